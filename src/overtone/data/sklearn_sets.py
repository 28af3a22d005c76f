"""Built-in classification sets from scikit-learn: the 8x8 digits and three generators
(moons, circles, Gaussian clusters), stratified into train / val / test and standardized with
the training statistics.

scikit-learn is imported inside each loader, so importing :mod:`overtone.data` stays light.
"""

from __future__ import annotations

import numpy as np

from overtone.data.containers import DataError, DatasetSplits
from overtone.data.splits import check_split_fraction, classification_splits


def load_digits(*, val_size: float = 0.2, test_size: float = 0.2, data_seed: int = 0):
    """scikit-learn's 1,797 8x8 digit images as (1, 8, 8) images; stratified 60/20/20."""
    from sklearn.datasets import load_digits as sklearn_digits

    check_split_fraction("val_size", val_size)
    check_split_fraction("test_size", test_size)
    bunch = sklearn_digits()
    x = bunch.images.astype(np.float32)[:, None, :, :]
    return classification_splits(
        "digits",
        x,
        bunch.target,
        input_kind="image",
        val_size=val_size,
        test_size=test_size,
        data_seed=data_seed,
        num_classes=10,
    )


def _generated(name, x, y, num_classes, val_size, test_size, data_seed) -> DatasetSplits:
    """Split and standardize points drawn by a scikit-learn generator."""
    return classification_splits(
        name,
        x.astype(np.float32),
        y,
        input_kind="vector",
        val_size=val_size,
        test_size=test_size,
        data_seed=data_seed,
        num_classes=num_classes,
    )


def _check_generator(n_samples: int, noise: float) -> None:
    if not isinstance(n_samples, int) or n_samples < 50:
        raise DataError(f"n_samples must be an integer >= 50, got {n_samples!r}")
    if not noise >= 0:  # also refuses nan
        raise DataError(f"noise must be a number >= 0, got {noise!r}")


def load_moons(
    *,
    n_samples: int = 1000,
    noise: float = 0.2,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """Two interleaving half circles in 2-D (``sklearn.datasets.make_moons``)."""
    from sklearn.datasets import make_moons

    _check_generator(n_samples, noise)
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=data_seed)
    return _generated("moons", x, y, 2, val_size, test_size, data_seed)


def load_circles(
    *,
    n_samples: int = 1000,
    noise: float = 0.1,
    factor: float = 0.5,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """A small circle inside a large one in 2-D (``sklearn.datasets.make_circles``)."""
    from sklearn.datasets import make_circles

    _check_generator(n_samples, noise)
    if not 0 < factor < 1:
        raise DataError(f"factor must lie in (0, 1), got {factor!r}")
    x, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=data_seed)
    return _generated("circles", x, y, 2, val_size, test_size, data_seed)


def load_classification(
    *,
    n_samples: int = 2000,
    n_features: int = 20,
    n_informative: int = 10,
    n_classes: int = 4,
    class_sep: float = 1.0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """Gaussian clusters on a hypercube (``sklearn.datasets.make_classification``)."""
    from sklearn.datasets import make_classification

    _check_generator(n_samples, 0.0)
    if not 2 <= n_classes <= n_samples // 10:
        raise DataError(f"n_classes must lie in [2, n_samples // 10], got {n_classes!r}")
    if not 1 <= n_informative <= n_features:
        raise DataError(
            f"n_informative must lie in [1, n_features={n_features}], got {n_informative!r}"
        )
    try:
        x, y = make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=n_informative,
            n_redundant=0,
            n_classes=n_classes,
            class_sep=class_sep,
            random_state=data_seed,
        )
    except ValueError as err:  # scikit-learn's own consistency checks
        raise DataError(f"classification: {err}") from None
    return _generated("classification", x, y, n_classes, val_size, test_size, data_seed)
