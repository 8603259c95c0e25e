"""Datasets of the paper's Table 5: registry, acquisition, verified loading, splits, augmentation.

Public API (what the rest of lsbook and the tests rely on):

- :data:`DATASETS` / :func:`get_dataset` — :class:`DatasetInfo` per dataset name.
- :func:`data_root` — ``$LSBOOK_DATA`` or ``~/.cache/lsbook``; :func:`locate` also finds local
  copies (Debian's Fashion-MNIST, ``../shared/data`` beside the checkout).
- :func:`load_split` — :class:`ImageSplit` (uint8 images [N,C,H,W], int64 labels, class names)
  for "train", "val" (stratified hold-out of the training set) and "test".
- :func:`make_transforms` — :class:`Transforms` with batched ``train``/``eval`` tensor ops.
- :func:`fetch`, :func:`dataset_status` — what ``python -m lsbook data fetch|status`` run.
- :mod:`lsbook.data.text` — Multi30k sentences, tokenizers, bucketed batches.
"""

from lsbook.data.acquire import DatasetStatus, dataset_status, fetch
from lsbook.data.augment import Transforms, make_transforms
from lsbook.data.load import ImageSplit, load_part, load_split
from lsbook.data.registry import DATASETS, DatasetInfo, get_dataset
from lsbook.data.roots import data_root, locate, require

__all__ = [
    "DATASETS", "DatasetInfo", "DatasetStatus", "ImageSplit", "Transforms", "data_root",
    "dataset_status", "fetch", "get_dataset", "load_part", "load_split", "locate",
    "make_transforms", "require",
]
