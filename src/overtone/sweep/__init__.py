"""``overtone sweep``: hyperparameter search with Optuna, one worker per process, any number
of workers on one study.

A spec (TOML) names a base config and a search space::

    name = "harmonic-lr"          # the study (default: the file's name)
    config = "harmonic-mlp.toml"  # optional base config file, relative to the spec
    metric = "val_acc"            # a per-epoch metric of metrics.jsonl (never a test metric)
    direction = "maximize"        # default: minimize for a *loss*, maximize otherwise
    objective = "last"            # the trial's value: the "last" epoch's metric or the "best"
    trials = 20                   # the default of --trials
    seed = 0                      # the sampler's seed

    [base]                        # config keys over the config file
    data = "mnist-t10k"

    [search.lr]                   # float: low, high (log, step); int: integer bounds;
    low = 1e-4                    # categorical: choices = [...]
    high = 1e-1
    log = true

    [search."optim_args.momentum"]  # a key of a table: model_args.widths, callbacks.NAME.KEY
    choices = [0.0, 0.9]

    [sampler]                     # TPE options (n_startup_trials, n_ei_candidates, ...)
    [pruner]                      # median pruning: n_startup_trials, n_warmup_steps, ...

Trials are sampled by TPE (seeded per trial number; ``constant_liar`` so that concurrent
workers do not sample the same point). Every epoch the trial reports ``metric`` and the median
pruner ends trials that are worse than the median of earlier trials at the same epoch, after
logging and checkpointing that epoch (``prune = false`` turns it off). Trial ``k`` is an
ordinary training run in ``<out>/trial-<k>/`` (``overtone report`` works on it).

``--trials N`` is the number of trials the *study* finishes (complete, pruned, or diverged)
across all of its workers. A worker asks for trials while fewer than N are finished or
running, then waits until the running ones finish (or one goes stale and needs a
replacement); a trial that would exceed N when two workers ask at once is marked failed as
``surplus`` and not run.
The storage is an Optuna RDB URL, by default ``sqlite:///runs/sweeps.db`` (one machine); for
workers on many machines give them one server database (``postgresql://...``). Each running
trial sends a heartbeat: a trial whose worker was killed is marked failed once its heartbeat is
older than twice ``heartbeat`` seconds, by a worker that asks for a trial or waits, and
another trial takes its place. (A RUNNING trial that never sent a heartbeat, e.g. one asked
for outside ``overtone sweep``, is waited for: finish it with Optuna's API.)

A trial that raises is marked failed and the worker stops with the
error; a diverged trial (NaN loss) is a finished result with no value.
"""

from overtone.sweep.spec import Param, SweepSpec, load_spec, spec_from_dict
from overtone.sweep.storage import DEFAULT_STORAGE, make_storage, open_study
from overtone.sweep.summary import trial_rows, write_summary
from overtone.sweep.worker import ReportToTrial, SweepResult, finished, run_worker

__all__ = [
    "DEFAULT_STORAGE",
    "Param",
    "ReportToTrial",
    "SweepResult",
    "SweepSpec",
    "finished",
    "load_spec",
    "make_storage",
    "open_study",
    "run_worker",
    "spec_from_dict",
    "trial_rows",
    "write_summary",
]
