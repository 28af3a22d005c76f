"""Datasets by name: built-in (scikit-learn), published image files (IDX / npz), text, and
users' own files (npz arrays, CSV tables, any UTF-8 text).

Every loader returns a :class:`DatasetSplits`: train / validation / test tensors plus a
:class:`DatasetInfo` (task kind, input shape, number of classes, normalization statistics).
Splits are deterministic functions of ``data_seed`` (stratified for classification) and the
normalization statistics come from the training split only.

Files are looked up under a data directory: the ``data_dir`` argument (``--data-dir``), else
``$OVERTONE_DATA``, else ``./data`` (or ``../shared/data`` when that exists and ``./data`` does
not). Every published file is checked against its published MD5 before it is parsed.

The modules, one role each:

- ``containers``: :class:`DataError`, :class:`DatasetInfo`, :class:`Split`,
  :class:`DatasetSplits` (what loaders return; models import only this);
- ``registry``: the name -> loader table, :func:`get_dataset`, the data directory;
- ``splits``: stratified splits and train-only standardization;
- ``sklearn_sets``: digits, moons, circles, classification (scikit-learn, imported lazily);
- ``download``: published files, their MD5 checks and the mirror downloader;
- ``files``: IDX and ``.npz`` parsing;
- ``published``: MNIST, Fashion-MNIST, KMNIST and the MNIST test set as a benchmark;
- ``text``: character-level text (any UTF-8 file; tiny Shakespeare);
- ``user_files``: users' own ``.npz`` arrays and CSV tables as classification sets;
- ``cifar``: CIFAR-10 / CIFAR-100 from the official binary archives;
- ``image_folder``: your own images, one sub-folder per class (Pillow; in memory or streamed);
- ``augment``: batch augmentations (random crop with padding, horizontal flip).

The table below registers every built-in dataset; add one with :func:`register_dataset`.
"""

from overtone.data.augment import RandomCropFlip, crop_flip
from overtone.data.cifar import (
    CIFAR10_SOURCE,
    CIFAR100_SOURCE,
    load_cifar10,
    load_cifar100,
    read_cifar_archive,
)
from overtone.data.containers import (
    INPUT_KINDS,
    TASKS,
    BatchAugment,
    DataError,
    DatasetInfo,
    DatasetSplits,
    SampleSplit,
    Split,
    split_tensors,
)
from overtone.data.download import (
    FileSource,
    PublishedFile,
    check_md5,
    download_file,
    file_md5,
    locate_file,
)
from overtone.data.files import (
    IDX_DTYPES,
    load_image_files,
    read_file,
    read_idx,
    read_npz_array,
    write_idx,
)
from overtone.data.image_folder import ImageFiles, load_image_folder
from overtone.data.published import (
    FASHION_MNIST_SOURCE,
    KMNIST_SOURCE,
    MNIST_SOURCE,
    MNIST_T10K_SOURCE,
    TRAIN_TEST_ROLES,
    load_fashion_mnist,
    load_kmnist,
    load_mnist,
    load_mnist_t10k,
    published_loader,
)
from overtone.data.registry import (
    DATASETS,
    DatasetSpec,
    dataset_options,
    get_dataset,
    get_dataset_cached,
    get_dataset_spec,
    list_datasets,
    register_dataset,
    resolve_data_dir,
)
from overtone.data.sklearn_sets import load_circles, load_classification, load_digits, load_moons
from overtone.data.splits import (
    check_labels,
    check_split_fraction,
    classification_splits,
    standardize,
    stratified_halves,
    stratified_split,
)
from overtone.data.text import load_text, load_tinyshakespeare, text_splits
from overtone.data.user_files import load_csv, load_npz, read_csv_table, read_npz_arrays

__all__ = [
    "CIFAR10_SOURCE",
    "CIFAR100_SOURCE",
    "DATASETS",
    "FASHION_MNIST_SOURCE",
    "IDX_DTYPES",
    "INPUT_KINDS",
    "KMNIST_SOURCE",
    "MNIST_SOURCE",
    "MNIST_T10K_SOURCE",
    "TASKS",
    "TRAIN_TEST_ROLES",
    "BatchAugment",
    "DataError",
    "DatasetInfo",
    "DatasetSpec",
    "DatasetSplits",
    "FileSource",
    "ImageFiles",
    "PublishedFile",
    "RandomCropFlip",
    "SampleSplit",
    "Split",
    "check_labels",
    "check_md5",
    "check_split_fraction",
    "classification_splits",
    "crop_flip",
    "dataset_options",
    "download_file",
    "file_md5",
    "get_dataset",
    "get_dataset_cached",
    "get_dataset_spec",
    "list_datasets",
    "load_cifar10",
    "load_cifar100",
    "load_circles",
    "load_classification",
    "load_csv",
    "load_digits",
    "load_fashion_mnist",
    "load_image_files",
    "load_image_folder",
    "load_kmnist",
    "load_mnist",
    "load_mnist_t10k",
    "load_moons",
    "load_npz",
    "load_text",
    "load_tinyshakespeare",
    "locate_file",
    "published_loader",
    "read_cifar_archive",
    "read_csv_table",
    "read_file",
    "read_idx",
    "read_npz_array",
    "read_npz_arrays",
    "register_dataset",
    "resolve_data_dir",
    "split_tensors",
    "standardize",
    "stratified_halves",
    "stratified_split",
    "text_splits",
    "write_idx",
]

# --------------------------------------------------------------------------- table

register_dataset(
    "digits",
    load_digits,
    task="classification",
    input_kind="image",
    description="scikit-learn 8x8 digits (1,797 images), stratified 60/20/20",
)
register_dataset(
    "moons",
    load_moons,
    task="classification",
    input_kind="vector",
    description="two interleaving half circles (2-D), generated",
)
register_dataset(
    "circles",
    load_circles,
    task="classification",
    input_kind="vector",
    description="concentric circles (2-D), generated",
)
register_dataset(
    "classification",
    load_classification,
    task="classification",
    input_kind="vector",
    description="Gaussian clusters (n-D), generated",
)
register_dataset(
    "mnist",
    load_mnist,
    task="classification",
    input_kind="image",
    description="MNIST, published IDX files",
)
register_dataset(
    "fashion-mnist",
    load_fashion_mnist,
    task="classification",
    input_kind="image",
    description="Fashion-MNIST, published IDX files",
)
register_dataset(
    "kmnist",
    load_kmnist,
    task="classification",
    input_kind="image",
    description="Kuzushiji-MNIST, published .npz files",
)
register_dataset(
    "mnist-t10k",
    load_mnist_t10k,
    task="classification",
    input_kind="image",
    description="real MNIST test set as a small benchmark: 8,000 / 2,000",
)
register_dataset(
    "tinyshakespeare",
    load_tinyshakespeare,
    task="language-modeling",
    input_kind="tokens",
    description="character-level text, 90/5/5 by position",
)
register_dataset(
    "cifar10",
    load_cifar10,
    task="classification",
    input_kind="image",
    description="CIFAR-10, official binary archive: 45,000 / 5,000 / 10,000 32x32 colour "
    "images, crop + flip augmentation",
)
register_dataset(
    "cifar100",
    load_cifar100,
    task="classification",
    input_kind="image",
    description="CIFAR-100, official binary archive: label=fine (100) or coarse (20), "
    "crop + flip augmentation",
)
register_dataset(
    "image-folder",
    load_image_folder,
    task="classification",
    input_kind="image",
    description="your images: path=DIR with one sub-folder per class (PNG/JPEG, or train/ "
    "and test/ of them); size=N resizes + centre-crops; stream=true decodes per sample",
)
register_dataset(
    "npz",
    load_npz,
    task="classification",
    input_kind="",  # vectors or images: the file's x decides
    description="your .npz file (path=): arrays x, y (+ x_val/y_val, x_test/y_test), "
    "x (N, F) vectors or (N, [C,] H, W) images, stratified 60/20/20 unless given",
)
register_dataset(
    "csv",
    load_csv,
    task="classification",
    input_kind="vector",
    description="your CSV table (path=, target=COLUMN): header row, numeric features, "
    "integer or text labels, stratified 60/20/20",
)
register_dataset(
    "text",
    load_text,
    task="language-modeling",
    input_kind="tokens",
    description="your UTF-8 text file (path=), character level, 90/5/5 by position",
)
