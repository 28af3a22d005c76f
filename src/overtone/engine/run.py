"""Starting, continuing and reusing runs: :func:`train`, :func:`resume`, :func:`train_or_load`.

A run directory holds ``config.toml`` (the resolved config), ``data.json`` (the data set's
:class:`~overtone.data.DatasetInfo`), ``metrics.jsonl`` (one line per epoch),
``checkpoints/`` (the latest epoch, written atomically), and at the end ``results.json`` and
``model.safetensors``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from overtone import build
from overtone.callbacks import Callback
from overtone.config import RESUME_OVERRIDES, ConfigError, TrainConfig, load_config
from overtone.data import DatasetSplits
from overtone.engine import distributed
from overtone.engine.trainer import RunResult, Trainer, default_run_dir
from overtone.plugins import with_plugins


def prepare_run_dir(config: TrainConfig) -> tuple[TrainConfig, Path]:
    """Pick the run directory (refusing one that already holds a run) and record it."""
    run_dir = Path(config.out) if config.out else default_run_dir(config)
    if (run_dir / "config.toml").exists() or (run_dir / "metrics.jsonl").exists():
        raise ConfigError(
            f"run directory {run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --out"
        )
    return config.replace(out=str(run_dir)), run_dir


def train(
    config: TrainConfig,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    data: DatasetSplits | None = None,
) -> RunResult:
    """Run a new training job described by ``config`` (one of W processes under torchrun:
    rank 0 picks the run directory).

    ``data`` (splits built by the program) is recorded as what it is: the run's config names
    ``memory:<info.name>`` with its sizes and content fingerprint (``config.data`` need not
    name a registered data set); resume such a run with ``resume(run_dir, data=...)`` and
    the same data."""
    if data is not None:
        config = build.record_supplied_data(config, data)
    distributed.join(distributed.process_device(config.device))
    run_dir = Path(distributed.decide_on_rank0(lambda: str(prepare_run_dir(config)[1])))
    config = config.replace(out=str(run_dir))
    trainer = Trainer(
        config, callbacks=list(callbacks), run_dir=run_dir, progress=progress, data=data
    )
    return trainer.fit()


def resume(
    run_dir: str | Path,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    data: DatasetSplits | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Continue the run in ``run_dir`` from its latest checkpoint (or its start).

    ``overrides`` may change only the keys in ``RESUME_OVERRIDES`` (device, data_dir,
    plugins: modules given here are imported besides the recorded ones). A run trained on
    data passed in memory needs the same ``data`` again; one that loaded its data set by name
    takes none.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.toml there; is it a run directory?")
    overrides = dict(overrides or {})
    refused = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if refused:
        raise ConfigError(f"a resumed run keeps its config; only {RESUME_OVERRIDES} may change, "
                          f"not {refused}")  # fmt: skip
    saved = load_config(run_dir / "config.toml")
    if overrides.get("plugins"):  # besides the recorded ones
        overrides["plugins"] = with_plugins(saved, overrides["plugins"])["plugins"]
    in_memory = str(saved.get("data", "")).startswith("memory:")
    if data is not None and not in_memory:
        raise ConfigError(
            f"run {run_dir} loaded its dataset {saved.get('data')!r} by name; resume it "
            "without data="
        )
    if data is None and in_memory:
        fingerprint = (saved.get("data_args") or {}).get("fingerprint", "?")
        raise ConfigError(
            f"run {run_dir} was trained on data passed in memory ({saved['data']!r}, "
            f"fingerprint {fingerprint}); only a program can continue it: "
            f"overtone.resume({str(run_dir)!r}, data=SPLITS) with the same data"
        )
    config = TrainConfig.from_dict({**saved, **overrides}, str(run_dir / "config.toml"))
    try:
        trainer = Trainer(
            config, callbacks=list(callbacks), run_dir=run_dir, progress=progress, data=data
        )
    except ConfigError as err:  # e.g. a name its plugins registered: say which run
        raise ConfigError(f"--resume {run_dir}: {err}") from err
    trainer.restore()
    return trainer.fit()


def train_or_load(
    config: TrainConfig,
    *,
    data: DatasetSplits | None = None,
    before_training: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The final metrics of the run in ``config.out``, for sweeps that are run again.

    A finished run (``results.json``) is only read; an interrupted one (``config.toml`` but no
    results: a killed sweep) is resumed from its latest checkpoint, exactly; otherwise the run
    is trained now (``before_training`` is called first, e.g. to print its command).
    """
    if not config.out:
        raise ConfigError("train_or_load needs config.out: the run directory it reads or fills")
    run_dir = Path(config.out)
    results = run_dir / "results.json"
    if not results.exists():
        if before_training is not None:
            before_training()
        if (run_dir / "config.toml").is_file():
            resume(run_dir, data=data, progress=False)
        else:
            train(config, data=data, progress=False)
    return json.loads(results.read_text())["final"]
