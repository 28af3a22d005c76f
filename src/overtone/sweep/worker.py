"""A sweep worker: asks the study for trials while fewer than ``--trials`` are finished or
running, runs each as an ordinary training run with a heartbeat, reports every epoch's metric
to the trial (so the pruner can end it) and tells the study how it ended."""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overtone.callbacks import Callback
from overtone.config import ConfigError
from overtone.sweep.spec import SweepSpec
from overtone.sweep.storage import (
    DEFAULT_STORAGE,
    creation_lock,
    import_optuna,
    make_storage,
    open_study,
    tpe_sampler,
)
from overtone.sweep.summary import format_params, write_summary

WAIT_POLL_S = 2.0  # how often a waiting worker looks at the study


class ReportToTrial(Callback):
    """Reports ``metric`` to the Optuna trial after every epoch and ends the run after that
    epoch (``trainer.stop_reason``) when the study's pruner says so."""

    def __init__(self, trial, metric: str, prune: bool) -> None:
        self.trial, self.metric, self.prune = trial, metric, prune
        self.pruned_at: int | None = None
        self.lost = False  # another worker marked the trial failed (missed heartbeats)

    def on_epoch_end(self, trainer, metrics: dict[str, Any]) -> None:
        if self.metric not in metrics:
            raise ConfigError(
                f"sweep metric {self.metric!r} is not logged by this run; its "
                f"metrics are {sorted(metrics)}"
            )
        try:
            self.trial.report(float(metrics[self.metric]), trainer.epoch)
        except import_optuna().exceptions.UpdateFinishedTrialError:
            self.lost = True
            trainer.stop_reason = "the sweep trial was marked failed by another worker"
            return
        if self.prune and self.trial.should_prune():
            self.pruned_at = trainer.epoch
            trainer.stop_reason = f"pruned by the sweep at epoch {trainer.epoch}"


class _Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds while the trial runs."""

    def __init__(self, storage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as err:  # a busy or unreachable database: try again next beat
                print(f"overtone sweep: heartbeat of trial {self.trial_id} failed ({err}); "
                      "retrying", file=sys.stderr)  # fmt: skip

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class SweepResult:
    study: Any
    out: Path
    ran: list[int]  # trial numbers this worker ran


def _trial_id(storage, study, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), number
    )


def finished(trial) -> bool:
    """Complete, pruned or diverged: a trial that counts towards ``--trials``."""
    states = import_optuna().trial.TrialState
    return trial.state in (states.COMPLETE, states.PRUNED) or bool(
        trial.state == states.FAIL and trial.user_attrs.get("diverged")
    )


def _taken(study) -> list:
    """Trials that count towards ``--trials`` now: finished ones and running ones (not the
    enqueued ones, which ``ask`` hands out first)."""
    running = import_optuna().trial.TrialState.RUNNING
    return [t for t in study.get_trials(deepcopy=False) if finished(t) or t.state == running]


def run_worker(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    trials: int | None = None,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    heartbeat: int = 30,
    log: Callable[[str], None] | None = print,
) -> SweepResult:
    """Run trials of ``spec``'s study until it has ``trials`` finished or running ones."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    total = spec.trials if trials is None else trials
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ConfigError(f"--trials must be an integer >= 1, got {total!r}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ConfigError(f"--heartbeat must be an integer >= 1 (seconds), got {heartbeat!r}")
    out = Path(out)
    with warnings.catch_warnings():
        # heartbeats outside Study.optimize are what this loop is for; they are experimental
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return _work(spec, out, total, storage, study_name, heartbeat, log or (lambda _: None))


def _work(spec: SweepSpec, out: Path, total: int, storage: str, study_name: str | None,
          heartbeat: int, say: Callable[[str], None]) -> SweepResult:  # fmt: skip
    optuna = import_optuna()
    with creation_lock(storage):
        rdb = make_storage(storage, heartbeat)
        study = open_study(spec, rdb, study_name)
    ran: list[int] = []
    waited_for: list[int] = []
    while True:
        optuna.storages.fail_stale_trials(study)  # trials of killed workers: failed
        done = sum(finished(t) for t in study.get_trials(deepcopy=False))
        if done >= total:
            break
        running = [t.number for t in _taken(study) if not finished(t)]
        if done + len(running) >= total:  # wait until they finish, or go stale (their
            if running != waited_for:  # worker was killed) and need a replacement
                say(f"waiting for trial(s) {running}, running in other workers")
                waited_for = running
            time.sleep(min(heartbeat, WAIT_POLL_S))
            continue
        trial = study.ask()
        trial_id = _trial_id(rdb, study, trial.number)
        try:
            rdb.record_heartbeat(trial_id)  # from now on a killed worker's trial goes stale
            with _Heartbeat(rdb, trial_id, heartbeat):
                if _run_trial(spec, study, trial, total, out, say):
                    ran.append(trial.number)
        except BaseException as err:  # Ctrl-C, a bug, a bad sampled config: never left running
            _tell(study, trial, optuna.trial.TrialState.FAIL,
                  error=f"{type(err).__name__}: {err}")  # fmt: skip
            raise
    write_summary(study, spec, out)
    return SweepResult(study, out, ran)


def _tell(study, trial, state=None, value: float | None = None, **attrs: Any) -> bool:
    """Finish ``trial`` (``state``, or complete with ``value``) with user attributes ``attrs``;
    False if another worker finished it already (it missed heartbeats and was failed)."""
    try:
        for key, item in attrs.items():
            trial.set_user_attr(key, item)
    except import_optuna().exceptions.UpdateFinishedTrialError:
        return False
    study.tell(trial, value, state=state, skip_if_finished=True)
    return True


def _run_trial(spec: SweepSpec, study, trial, total: int, out: Path,
               say: Callable[[str], None]) -> bool:  # fmt: skip
    """Run one asked trial to its end and tell the study; False if it was not needed."""
    optuna = import_optuna()
    from overtone.engine import NonFiniteLossError, Trainer, prepare_run_dir

    states = optuna.trial.TrialState
    if len([t for t in _taken(study) if t.number < trial.number]) >= total:
        _tell(study, trial, states.FAIL, surplus=True)  # another worker asked at the same time
        return False
    study.sampler = tpe_sampler(spec, trial.number)  # one worker repeats itself; several differ
    params = {param.key: param.suggest(trial) for param in spec.search}
    say(f"trial {trial.number}: {format_params(params)}")
    config, run_dir = prepare_run_dir(spec.config(params, out / f"trial-{trial.number:04d}"))
    trial.set_user_attr("run_dir", str(run_dir))
    reporter = ReportToTrial(trial, spec.metric, spec.prune)
    try:
        result = Trainer(config, run_dir=run_dir, progress=False, callbacks=[reporter]).fit()
    except NonFiniteLossError as err:
        _tell(study, trial, states.FAIL, diverged=True, error=str(err))
        say(f"trial {trial.number}: diverged ({err})")
        return True
    if reporter.lost:
        say(f"trial {trial.number}: marked failed by another worker (heartbeats missed); "
            "its result is not recorded")  # fmt: skip
        return True
    if reporter.pruned_at is not None:
        _tell(study, trial, states.PRUNED)
        say(f"trial {trial.number}: pruned at epoch {reporter.pruned_at}")
        return True
    values = [m[spec.metric] for m in result.history]
    pick = max if spec.direction == "maximize" else min
    value = values[-1] if spec.objective == "last" else pick(values)
    final = result.final
    if _tell(study, trial, value=value, test_acc=final.get("test_acc"),
             test_loss=final.get("test_loss"), train_time_s=final.get("train_time_s")):  # fmt: skip
        say(f"trial {trial.number}: {spec.metric} {value:.4f}")
    return True
