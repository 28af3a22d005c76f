"""Where a study lives: an Optuna RDB storage with heartbeats (sqlite files get their folder,
writers that wait, and a lock around the first creation of their tables), and the study
opened from a spec."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from overtone.config import ConfigError
from overtone.sweep.spec import SweepSpec

DEFAULT_STORAGE = "sqlite:///runs/sweeps.db"


def import_optuna():
    """Optuna, imported when a sweep needs it (the ``sweep`` extra)."""
    try:
        import optuna
    except ImportError:  # pragma: no cover - the sweep extra is missing
        raise ConfigError(
            "overtone sweep needs Optuna: pip install 'overtone[sweep]' (or pip install optuna)"
        ) from None
    return optuna


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL (None for other storages)."""
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def make_storage(url: str, heartbeat: int):
    """An Optuna RDB storage with heartbeats (sqlite: its folder is created, writers wait)."""
    optuna = import_optuna()
    import sqlalchemy

    engine_kwargs = {}
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat,
                grace_period=2 * heartbeat,
            )
        except (ValueError, ImportError, sqlalchemy.exc.SQLAlchemyError) as err:
            raise ConfigError(f"--storage {url!r}: {err}") from None


def tpe_sampler(spec: SweepSpec, number: int):
    """TPE seeded for trial ``number`` (values are drawn when the trial suggests them)."""
    seed = int(np.random.SeedSequence([spec.seed, number]).generate_state(1)[0])
    return import_optuna().samplers.TPESampler(seed=seed, **spec.sampler)


@contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """One process at a time creates a sqlite file's tables (concurrent first starts race)."""
    database = sqlite_file(url)
    if database is None or fcntl is None:
        yield
        return
    lock = database.with_name(database.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_study(spec: SweepSpec, storage, study_name: str | None = None):
    optuna = import_optuna()
    name = study_name or spec.name
    sampler = tpe_sampler(spec, 0)
    pruner = (
        optuna.pruners.MedianPruner(**spec.pruner) if spec.prune else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=spec.direction,
        load_if_exists=True,
    )
    saved = study.user_attrs.get("overtone_spec")
    if saved is None:
        study.set_user_attr("overtone_spec", spec.digest())
    elif saved != spec.digest():
        raise ConfigError(
            f"study {name!r} in this storage was made by a different spec (base, search or "
            "metric changed); pass another --study name, or delete the study"
        )
    return study
