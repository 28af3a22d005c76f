"""Users' own array and table files as classification sets: ``npz`` (arrays ``x`` and ``y``,
optionally ``x_val``/``y_val`` and ``x_test``/``y_test``) and ``csv`` (a header row, numeric
feature columns and one target column of integer or text labels).

Inputs must be finite numbers; labels are integers in ``[0, K)`` with ``K = max(y) + 1`` and
every class present in ``y``. Splits stored in the file are used as they are; the others are
held out of ``(x, y)``, stratified by class and fixed by ``data_seed`` (``val_size`` /
``test_size``: a fraction in (0, 0.5) of the examples, or a count). Every split is
standardized with the training split's statistics, ``x' = (x - mean_train) / std_train``:
per feature for vectors, over the whole tensor for images. ``.npz`` files are never unpickled.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from overtone.data.containers import DataError, DatasetSplits
from overtone.data.splits import (
    check_split_fraction,
    indexed_splits,
    stratified_halves,
    stratified_split,
)

NPZ_ARRAYS = ("x", "y", "x_val", "y_val", "x_test", "y_test")
HELD_OUT = ("val", "test")


# --------------------------------------------------------------------------- checks


def user_file(name: str, path: str, example: str) -> Path:
    """The existing file ``path`` names, else :class:`DataError` (no path, missing, a folder)."""
    if not path:
        raise DataError(f"{name}: name the file with --data-arg path={example}")
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"{name}: file {file} does not exist")
    if not file.is_file():
        raise DataError(f"{name}: {file} is not a file")
    return file


def _check_size(key: str, value: object) -> None:
    """A held-out size: a fraction in (0, 0.5) or a positive count."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise DataError(f"{key} must be a fraction in (0, 0.5) or a count >= 1, got {value}")
        return
    check_split_fraction(key, value)


def check_inputs(file: Path, key: str, x: np.ndarray) -> None:
    """``x`` holds at least one example of finite real numbers."""
    if x.dtype.kind not in "iuf":
        raise DataError(f"{file}: {key} must hold real numbers (int or float), got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(
            f"{file}: {key} must be (N, F) vectors or (N, H, W) / (N, C, H, W) images with "
            f"N >= 1, got shape {x.shape}"
        )
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            raise DataError(
                f"{file}: {key} holds NaN or infinite values in {int(bad.sum())} example(s), "
                f"first at index {int(np.argmax(bad))}"
            )


def check_targets(file: Path, key: str, y: np.ndarray, n: int, xkey: str) -> None:
    """``y`` holds one non-negative integer label per input."""
    if y.dtype.kind not in "iu":
        raise DataError(f"{file}: {key} must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise DataError(f"{file}: {key} must be one-dimensional (N,), got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{file}: {xkey} has {n} examples but {key} has {len(y)} labels")
    if len(y) and y.min() < 0:
        raise DataError(f"{file}: {key} holds negative labels ({int(y.min())}); labels are 0..K-1")


def count_classes(file: Path, y: np.ndarray, key: str = "y") -> int:
    """``K = max(y) + 1``, each of the classes ``0..K-1`` having at least one example."""
    num_classes = int(y.max()) + 1
    # a csv column: any values can be class names
    hint = "; --data-arg labels=names numbers the values that occur" if key.startswith(
        "target"
    ) else ""  # fmt: skip
    if num_classes > len(y):  # more classes than examples: some are empty
        raise DataError(
            f"{file}: {key} has {len(y)} examples but labels up to {num_classes - 1}: some "
            f"classes have no example (labels must be 0..K-1, every class present{hint})"
        )
    empty = np.flatnonzero(np.bincount(y, minlength=num_classes) == 0)
    if len(empty):
        shown = ", ".join(str(int(c)) for c in empty[:10]) + (", ..." if len(empty) > 10 else "")
        if not hint and empty[0] == 0 and len(empty) == 1:
            hint = "; labels 1..K? subtract 1"
        raise DataError(
            f"{file}: {key} has no example of class(es) {shown} of 0..{num_classes - 1} "
            f"(labels must be 0..K-1, every class present{hint})"
        )
    return num_classes


# --------------------------------------------------------------------------- splits


def file_splits(
    name: str,
    file: Path,
    x: np.ndarray,
    y: np.ndarray,
    given: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    input_kind: str,
    val_size: float | int,
    test_size: float | int,
    data_seed: int,
    num_classes: int,
    extra: dict[str, Any],
) -> DatasetSplits:
    """Train / val / test from ``(x, y)`` and the ``given`` held-out splits (role -> (x, y));
    the missing held-out splits are cut from ``(x, y)``, stratified by ``y`` (``val_size`` /
    ``test_size`` apply to those only); then standardized with the training statistics.
    Inputs and labels come checked (finite numbers, labels in [0, num_classes))."""
    sizes = {"val": val_size, "test": test_size}
    for key, value in (("val_size", val_size), ("test_size", test_size)):
        _check_size(key, value)
    held = {}
    try:
        if not given:
            train, held["val"], held["test"] = stratified_split(y, (val_size, test_size), data_seed)
        else:
            train = np.arange(len(y))
            for role in (r for r in HELD_OUT if r not in given):  # at most one
                size = sizes[role]
                count = round(size * len(y)) if isinstance(size, float) else size
                if not 1 <= count < len(y):
                    raise DataError(f"cannot hold {count} {role} examples out of {len(y)}")
                train, cut = stratified_halves(train, y, count, data_seed)
                train, held[role] = np.sort(train), np.sort(cut)
    except DataError as err:
        raise DataError(f"{file}: {err}") from None
    # one array holding (x, y) then the given splits; each split is a set of rows of it
    offset = len(y)
    xs, ys = [x], [y]
    for role in HELD_OUT:
        if role in given:
            gx, gy = given[role]
            held[role] = np.arange(offset, offset + len(gy))
            xs.append(gx)
            ys.append(gy)
            offset += len(gy)
    all_x, all_y = np.concatenate(xs), np.concatenate(ys).astype(np.int64)
    index = (train, held["val"], held["test"])
    extra = {"data_seed": data_seed, "file": str(file), **extra}
    return indexed_splits(name, all_x, all_y, index, input_kind=input_kind,
                          num_classes=num_classes, extra=extra)  # fmt: skip


# --------------------------------------------------------------------------- npz


def read_npz_arrays(file: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, by name; only :data:`NPZ_ARRAYS` are allowed and
    nothing is unpickled."""
    try:
        with open(file, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{file}: a single .npy array, not an .npz archive of x and y")
            with archive:
                return _npz_arrays(file, archive)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{file}: cannot be read as .npz ({err})") from None


def _npz_arrays(file: Path, archive: Any) -> dict[str, np.ndarray]:
    unknown = sorted(set(archive.files) - set(NPZ_ARRAYS))
    if unknown:
        raise DataError(
            f"{file}: unknown array(s) {', '.join(unknown)}; an npz data set holds "
            f"{', '.join(NPZ_ARRAYS)} (the last four optional)"
        )
    arrays = {}
    for key in archive.files:
        try:
            arrays[key] = archive[key]
        except ValueError:  # object arrays need pickle
            raise DataError(
                f"{file}: array {key!r} holds Python objects (dtype object); save plain "
                "numbers (no pickle is read)"
            ) from None
    return arrays


IMAGE_CHANNELS = (1, 3, 4)  # gray, RGB, RGBA: what tells (N, H, W, C) from (N, C, H, W)


def channels_last(x: np.ndarray, layout: str) -> bool:
    """Whether 4-D ``x`` is (N, H, W, C): ``layout`` nhwc, or auto with a last axis of 1, 3 or
    4 channels and a second axis that is not."""
    if x.ndim != 4 or layout == "nchw":
        return False
    return layout == "nhwc" or (x.shape[-1] in IMAGE_CHANNELS and x.shape[1] not in IMAGE_CHANNELS)


def _shape_inputs(file: Path, key: str, x: np.ndarray, input_kind: str, layout: str) -> np.ndarray:
    """``x`` as vectors (N, F) or images (N, C, H, W) for ``input_kind`` ("" = by its shape:
    2-D vectors, 3-D (N, H, W) or 4-D (N, C, H, W) / (N, H, W, C) images)."""
    if channels_last(x, layout):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim > 4:
        raise DataError(
            f"{file}: {key} must be (N, F) vectors or (N, H, W) / (N, C, H, W) images, got "
            f"shape {x.shape}"
        )
    if input_kind == "vector":
        return x.reshape(len(x), -1)
    if input_kind == "image" and x.ndim == 2:
        raise DataError(
            f"{file}: input_kind=image needs {key} of shape (N, H, W) or (N, C, H, W), got "
            f"{x.shape}"
        )
    return x[:, None] if x.ndim == 3 else x


def load_npz(
    *,
    path: str = "",
    input_kind: str = "",
    layout: str = "auto",
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
) -> DatasetSplits:
    """Arrays ``x`` (inputs) and ``y`` (integer labels) of an ``.npz`` file, with
    ``x_val``/``y_val`` and ``x_test``/``y_test`` used as those splits when present (else
    ``val_size`` / ``test_size`` held out of ``x``, stratified). ``x`` of shape (N, F) is a
    vector set, (N, H, W) or (N, C, H, W) an image set; ``input_kind`` = vector / image
    overrides (vector flattens images). ``layout`` of 4-D images: nchw, nhwc (channels last,
    as Keras / TensorFlow save them; transposed to (N, C, H, W)), or auto: nhwc when the last
    axis has 1, 3 or 4 entries and the second does not."""
    if input_kind not in ("", "vector", "image"):
        raise DataError(f"npz: input_kind must be vector or image (or empty), got {input_kind!r}")
    if layout not in ("auto", "nchw", "nhwc"):
        raise DataError(f"npz: layout must be auto, nchw or nhwc, got {layout!r}")
    file = user_file("npz", path, "FILE.npz")
    arrays = read_npz_arrays(file)
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "none"
        raise DataError(f"{file}: no array {' or '.join(missing)} (found: {found})")
    for role in HELD_OUT:
        pair = [f"x_{role}" in arrays, f"y_{role}" in arrays]
        if pair[0] != pair[1]:
            have, lack = (f"x_{role}", f"y_{role}") if pair[0] else (f"y_{role}", f"x_{role}")
            raise DataError(f"{file}: {have} without {lack} (give both or neither)")
    suffixes = {"": "", **{r: f"_{r}" for r in HELD_OUT if f"x_{r}" in arrays}}
    shaped = {}
    for role, suffix in suffixes.items():
        xk, yk = f"x{suffix}", f"y{suffix}"
        x, y = arrays[xk], arrays[yk]
        check_inputs(file, xk, x)
        check_targets(file, yk, y, len(x), xk)
        shaped[role] = (_shape_inputs(file, xk, x, input_kind, layout), y)
    x, y = shaped.pop("")
    num_classes = count_classes(file, y)
    for role, (gx, gy) in shaped.items():
        if gx.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{file}: x_{role} examples have shape {gx.shape[1:]} but x examples {x.shape[1:]}"
            )
        if gy.max() >= num_classes:
            raise DataError(
                f"{file}: y_{role} holds label {int(gy.max())}, out of range: y has classes "
                f"0..{num_classes - 1}"
            )
    kind = input_kind or ("vector" if x.ndim == 2 else "image")
    return file_splits(
        "npz", file, x, y, shaped,
        input_kind=kind, val_size=val_size, test_size=test_size, data_seed=data_seed,
        num_classes=num_classes,
        extra={"arrays": sorted(arrays), "nhwc": channels_last(arrays["x"], layout)},
    )  # fmt: skip


# --------------------------------------------------------------------------- csv


def read_csv_table(file: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (column names) and the data rows (line number, cells) of a CSV file; blank
    lines are skipped, every row has one cell per column."""
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise DataError(f"{file}: not a valid CSV file ({err})") from None
    if not rows:
        raise DataError(f"{file}: empty (a CSV data set needs a header row and data rows)")
    header = [c.strip() for c in rows[0][1]]
    if all(_is_number(c) for c in header):
        raise DataError(
            f"{file}: the first row ({', '.join(header[:5])}) holds numbers, not column names; "
            "add a header row naming the columns"
        )
    for k, name in enumerate(header):
        if not name:
            raise DataError(
                f"{file}: column {k + 1} of the header row has no name (an index column, "
                "as pandas' to_csv writes it? save with index=False)"
            )
        if header.index(name) != k:
            raise DataError(f"{file}: column name {name!r} appears twice in the header row")
    if len(rows) == 1:
        raise DataError(f"{file}: a header row but no data rows")
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(
                f"{file}, line {line}: {len(row)} fields, but the header names {len(header)} "
                "columns"
            )
    return header, rows[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_column(file: Path, name: str, lines: list[int], cells: list[str]) -> np.ndarray:
    """A feature column as float64: every cell a finite number."""
    if not any(cells):
        raise DataError(f"{file}: column {name!r} is empty (no values)")
    for line, cell in zip(lines, cells, strict=True):
        if not cell:
            raise DataError(f"{file}, line {line}: column {name!r} is missing a value")
        if not _is_number(cell):
            raise DataError(f"{file}, line {line}: column {name!r} holds {cell!r}, not a number")
    values = np.array([float(c) for c in cells])
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"{file}, line {lines[bad[0]]}: column {name!r} holds {cells[bad[0]]!r} "
            f"(NaN or infinite; {len(bad)} such value(s))"
        )
    return values


LABELS = ("auto", "names")


def _target_column(
    file: Path, name: str, lines: list[int], cells: list[str], labels: str = "auto"
) -> tuple[np.ndarray, list[str] | None]:
    """Class indices of the target column and, for text labels (or ``labels="names"``: every
    distinct value is a class, e.g. 1..K or -1/+1), the class names (sorted, numbers by value;
    class ``k`` is ``names[k]``); with ``labels="auto"`` integer labels are kept as they are
    (``None``)."""
    if not any(cells):
        raise DataError(f"{file}: target column {name!r} is empty (no values)")
    for line, cell in zip(lines, cells, strict=True):
        if not cell:
            raise DataError(f"{file}, line {line}: target column {name!r} is missing a value")
    numeric = all(_is_number(c) for c in cells)
    if labels == "names":
        key = (lambda c: (float(c), c)) if numeric else None
        classes = sorted(set(cells), key=key)
        lookup = {c: k for k, c in enumerate(classes)}
        return np.array([lookup[c] for c in cells], dtype=np.int64), classes
    if numeric:
        numbers = np.array([float(c) for c in cells])
        fractional = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if len(fractional):
            k = fractional[0]
            raise DataError(
                f"{file}, line {lines[k]}: target column {name!r} holds {cells[k]!r}; class "
                "labels must be integers or text (regression targets are not supported)"
            )
        labels = numbers.astype(np.int64)
        negative = np.flatnonzero(labels < 0)
        if len(negative):
            k = negative[0]
            raise DataError(
                f"{file}, line {lines[k]}: target column {name!r} holds the negative label "
                f"{cells[k]!r}; integer labels are 0..K-1 (--data-arg labels=names makes "
                "each distinct value a class)"
            )
        return labels, None
    classes = sorted(set(cells))
    lookup = {c: k for k, c in enumerate(classes)}
    return np.array([lookup[c] for c in cells], dtype=np.int64), classes


def load_csv(
    *,
    path: str = "",
    target: str = "",
    columns: str = "",
    labels: str = "auto",
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
) -> DatasetSplits:
    """A CSV file with a header row: column ``target`` holds the class of each row (integers
    0..K-1, or text labels numbered in sorted order, kept in ``info.extra["classes"]``;
    ``labels=names`` numbers any distinct values so, e.g. 1..K or -1/+1), the ``columns``
    (comma-separated names; default every other column) hold numbers; split ``val_size`` /
    ``test_size`` stratified, standardized per feature."""
    if labels not in LABELS:
        raise DataError(f"csv: labels must be auto or names, got {labels!r}")
    file = user_file("csv", path, "FILE.csv")
    header, rows = read_csv_table(file)
    listing = ", ".join(header)
    if not target:
        raise DataError(f"{file}: name the target column with --data-arg target=COLUMN "
                        f"(columns: {listing})")  # fmt: skip
    if target not in header:
        raise DataError(f"{file}: no column {target!r} (columns: {listing})")
    if columns:
        features = [c.strip() for c in columns.split(",")]
        unknown = [c for c in features if c not in header]
        if unknown:
            raise DataError(f"{file}: no column(s) {', '.join(map(repr, unknown))} "
                            f"(columns: {listing})")  # fmt: skip
        if target in features:
            raise DataError(f"{file}: the target column {target!r} cannot be a feature too")
    else:
        features = [c for c in header if c != target]
    if not features:
        raise DataError(f"{file}: no feature columns besides the target {target!r}")
    lines = [line for line, _ in rows]

    def cells(name: str) -> list[str]:
        k = header.index(name)
        return [row[k].strip() for _, row in rows]

    x = np.stack([_numeric_column(file, c, lines, cells(c)) for c in features], axis=1)
    y, classes = _target_column(file, target, lines, cells(target), labels)
    num_classes = count_classes(file, y, f"target column {target!r}")
    extra = {"target": target, "columns": features, "classes": classes}
    return file_splits(
        "csv", file, x, y, {},
        input_kind="vector", val_size=val_size, test_size=test_size, data_seed=data_seed,
        num_classes=num_classes, extra=extra,
    )  # fmt: skip
