"""``overtone`` command line: ``train``, ``bench``, ``sweep``, ``report``, ``demo``, ``list``.

``train`` flags are generated from :class:`overtone.config.TrainConfig`, so each one is also
a key of a ``--config`` TOML file (``--batch-size`` <-> ``batch_size``); flags override the
file. Errors in configs, data or checkpoints print one clear line and exit with status 2.
``--plugin MODULE`` imports a module that registers components (:mod:`overtone.plugins`).
"""

from __future__ import annotations

import argparse
import sys

from overtone import __version__
from overtone._threads import torch_threads
from overtone.cli_flags import (
    NAMED_TABLE_FLAGS,
    add_plugin_flag,
    add_train_flags,
    config_from_args,
)
from overtone.config import RESUME_OVERRIDES, SCHEMA, ConfigError
from overtone.data import DataError
from overtone.plugins import load_entry_points, load_plugins, with_plugins


def build_parser() -> argparse.ArgumentParser:
    from overtone.bench.suites import BUDGETS, SUITES

    parser = argparse.ArgumentParser(
        prog="overtone",
        description="Physics- and frequency-inspired neural networks, compared honestly.",
    )
    parser.add_argument("--version", action="version", version=f"overtone {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train one model on one dataset",
        description="Train one model; every flag is also a TOML config key.",
    )
    train.add_argument("--config", metavar="FILE", help="TOML file of config keys")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument(
        "--threads",
        type=int,
        help="torch threads of this run (each process under torchrun; default: torch's); "
        "also with --resume",
    )
    add_train_flags(train)

    bench = sub.add_parser(
        "bench",
        help="a grid of runs over seeds with statistics (a TOML spec or a built-in suite)",
        description=(
            "Run models x datasets x optimizers x seeds and write results.csv, summary.md "
            "(mean ± std, 95% CI, paired t-test against the baseline, ranked) and report.html. "
            f"SPEC is a TOML file or a built-in suite: {', '.join(SUITES)}. "
            "Finished runs are not rerun: run the same command again to continue."
        ),
    )
    bench.add_argument("spec", metavar="SPEC", help="TOML spec file or built-in suite name")
    bench.add_argument("--out", help="output folder (default: runs/bench-<name>)")
    bench.add_argument(
        "--budget",
        choices=BUDGETS,
        help="size of a built-in suite (default: small)",
    )
    bench.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    bench.add_argument(
        "--threads", type=int, help="torch threads per worker (default: cores / workers)"
    )
    bench.add_argument("--seeds", type=int, help="override every group's seeds with 0..N-1")
    bench.add_argument("--no-report", action="store_true", help="skip report.html")
    bench.add_argument("--quiet", action="store_true", help="print only the final tables")
    add_plugin_flag(bench, "recorded in every run's config")

    sweep = sub.add_parser(
        "sweep",
        help="hyperparameter search with Optuna (TPE, median pruning); N copies = N workers",
        description=(
            "Search the config keys of SPEC's [search] with Optuna's TPE sampler, pruning "
            "trials worse than the median at the same epoch. Start the same command in several "
            "processes or machines to run workers in parallel on one study; they share "
            "--storage. Running it again continues the study."
        ),
    )
    sweep.add_argument("spec", metavar="SPEC", help="TOML sweep spec (see examples/*/sweep-*.toml)")
    sweep.add_argument(
        "--trials", type=int, help="trials the study finishes, over all workers (default: spec)"
    )
    sweep.add_argument(
        "--storage",
        default=None,
        help="Optuna RDB URL shared by the workers (default: sqlite:///runs/sweeps.db; many "
        "machines: postgresql://USER:PASS@HOST/DB)",
    )
    sweep.add_argument("--study", help="study name (default: the spec's name)")
    sweep.add_argument("--out", help="folder of the trial runs (default: runs/sweep-<study>)")
    sweep.add_argument("--threads", type=int, help="torch threads of this worker")
    sweep.add_argument(
        "--heartbeat",
        type=int,
        default=30,
        help="seconds between a running trial's heartbeats; a trial silent for twice that is "
        "marked failed (default: 30)",
    )
    sweep.add_argument("--quiet", action="store_true", help="print only the summary")
    add_plugin_flag(sweep, "recorded in every trial's config")

    report = sub.add_parser(
        "report",
        help="one self-contained HTML page of a run, bench or demo folder",
        description="Write DIR/report.html: tables, learning curves and per-family figures.",
    )
    report.add_argument("dir", metavar="RUN_OR_BENCH_DIR")
    report.add_argument("--out", help="HTML file to write (default: DIR/report.html)")
    add_plugin_flag(report, "besides the plugins the runs recorded")

    demo = sub.add_parser("demo", help="every model family vs the baselines on built-in data")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--seeds", type=int, default=3, help="seeds per model and dataset")
    demo.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    demo.add_argument("--quiet", action="store_true", help="print only the final table")

    listing = sub.add_parser("list", help="list registered components and their options")
    listing.add_argument(
        "kind",
        nargs="?",
        default="all",
        choices=[
            "all",
            "models",
            "datasets",
            "activations",
            "optimizers",
            "losses",
            "pruners",
            "schedulers",
            "callbacks",
            "loggers",
        ],
    )
    add_plugin_flag(listing, "its components are listed too")
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    """One run; under torchrun each of its processes runs this and rank 0 reports."""
    from overtone.engine import distributed

    try:
        with torch_threads(args.threads):
            return _train_run(args)
    finally:
        distributed.leave()


def _train_run(args: argparse.Namespace) -> int:
    from overtone.engine import distributed, resume, train

    if args.resume:
        given = {name: getattr(args, name) for name in SCHEMA if hasattr(args, name)}
        refused = (["--config"] if args.config else []) + [
            SCHEMA[k].flag for k in given if k not in RESUME_OVERRIDES
        ]
        named_flags = {
            flag: dest
            for key, name_flag in NAMED_TABLE_FLAGS.items()
            for flag, dest in (
                (name_flag, f"{name_flag[2:]}_names"),
                (SCHEMA[key].flag, f"{name_flag[2:]}_args"),
            )
        }
        refused += [flag for flag, dest in named_flags.items() if hasattr(args, dest)]
        if refused:
            raise ConfigError(
                f"--resume continues a run with its saved config; drop {', '.join(refused)} "
                f"(only {', '.join(SCHEMA[k].flag for k in RESUME_OVERRIDES)} "
                "may change)"
            )
        result = resume(args.resume, progress=not args.quiet, overrides=given)
    else:
        result = train(config_from_args(args), progress=not args.quiet)
    final = result.final
    if distributed.topology().is_main:
        print(
            f"test accuracy {final['test_acc']:.4f}  test loss {final['test_loss']:.4f}  "
            f"({final['train_time_s']:.1f}s training)  run: {result.run_dir}"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The built-in ``demo`` bench suite, afresh: its tables (narrowed to 80 columns; the 95%
    CI, t and parameter counts are in summary.md), figures and report."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from overtone.bench import cell_table
    from overtone.bench.demo import run_demo

    result = run_demo(args.out, seeds=args.seeds, epochs=args.epochs, progress=not args.quiet)
    console = Console()
    for group in result.spec.groups:
        for title, header, rows in cell_table(result.summary, group):
            short = {"rank": "#", "model": "model", "seeds ok": "seeds", header[3]: "mean ± std",
                     header[5]: "Δ", "p": "p", "train s": "train s"}  # fmt: skip
            shown = [i for i, name in enumerate(header) if name in short]
            table = Table(title=f"{title}: {group.metric}; Δ and p: paired t-test vs "
                          f"{group.baseline}", title_justify="left", box=box.SIMPLE_HEAD,
                          pad_edge=False)  # fmt: skip
            for i in shown:
                table.add_column(short[header[i]], justify="left" if i in (1, 2) else "right",
                                 no_wrap=i in (1, 3))  # fmt: skip
            for row in rows:
                table.add_row(*(row[i] for i in shown))
            console.print(table)
    console.print(
        f"{len(result.rows)} runs in {result.seconds:.0f} s; wrote {result.out}/summary.md, "
        "results.csv, the curves and boundaries PNGs and report.html",
        highlight=False,
    )
    return 1 if any(r["status"] == "failed" for r in result.rows) else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from overtone.bench import load_spec, run_bench
    from overtone.bench.suites import SUITES, get_suite

    load_plugins(args.plugins)
    if Path(args.spec).is_file():
        if args.budget is not None:
            raise ConfigError("--budget sizes a built-in suite; a spec file sets its own epochs")
        spec = load_spec(args.spec)
    elif args.spec in SUITES:
        spec = get_suite(args.spec, args.budget or "small")
    else:
        raise ConfigError(
            f"bench spec {args.spec!r} is neither a file nor a built-in suite ({', '.join(SUITES)})"
        )
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
        spec = replace(spec, groups=tuple(replace(g, seeds=tuple(range(args.seeds)))
                                          for g in spec.groups))  # fmt: skip
    if args.plugins:  # recorded in every run, so its workers, resume and report import them
        spec = replace(spec, groups=tuple(replace(g, base=with_plugins(g.base, args.plugins))
                                          for g in spec.groups))  # fmt: skip
    suffix = f"-{args.budget}" if args.budget not in (None, "small") else ""
    out = Path(args.out or f"runs/bench-{spec.name}{suffix}")
    result = run_bench(spec, out, workers=args.workers, threads=args.threads,
                       progress=not args.quiet)  # fmt: skip
    _print_bench(result)
    if not args.no_report:
        from overtone.report import write_report

        print(f"report: {write_report(out)}")
    failed = sum(r["status"] == "failed" for r in result.rows)
    return 1 if failed else 0


def _print_bench(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from overtone.bench import cell_table

    console = Console()
    if result.claims:
        table = Table(title=f"claims ({result.spec.name})", show_lines=True)
        for column in ("claim", "our measurement", "baseline", "verdict"):
            table.add_column(column, overflow="fold")
        for claim in result.claims:
            table.add_row(claim.claim, claim.measurement, claim.baseline, claim.verdict)
        console.print(table)
    else:
        for group in result.spec.groups:
            for title, header, rows in cell_table(result.summary, group):
                table = Table(title=title, title_justify="left")
                for column in header:
                    table.add_column(column, overflow="fold")
                for row in rows:
                    table.add_row(*row)
                console.print(table)
    console.print(f"wrote {result.out}/results.csv and summary.md ({result.seconds:.0f} s)",
                  highlight=False)  # fmt: skip


def _cmd_sweep(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from overtone.sweep import DEFAULT_STORAGE, load_spec, run_worker

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    load_plugins(args.plugins)
    spec = load_spec(args.spec)
    if args.plugins:  # recorded in every trial's config (not part of the study's identity)
        spec = replace(spec, base=with_plugins(spec.base, args.plugins))
    study = args.study or spec.name
    out = Path(args.out or f"runs/sweep-{study}")
    result = run_worker(spec, out, trials=args.trials, storage=args.storage or DEFAULT_STORAGE,
                        study_name=study, heartbeat=args.heartbeat,
                        log=None if args.quiet else print)  # fmt: skip
    print((out / "summary.md").read_text(), end="")
    print(f"this worker ran trials {result.ran or 'none'}; trials.csv and summary.md in {out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from overtone.report import write_report

    load_plugins(args.plugins)
    print(f"wrote {write_report(args.dir, args.out)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from overtone.build import catalogue

    load_plugins(args.plugins)
    console = Console()
    for kind, entries in catalogue().items():
        if args.kind not in ("all", kind):
            continue
        table = Table(title=kind, title_justify="left", show_header=False)
        for column in ("name", "about", "options"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            table.add_row(*(escape(cell) for cell in entry))  # `overtone[timm]` is not markup
        console.print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from overtone.engine import CheckpointError, NonFiniteLossError, RunInterrupted

    handlers = {
        "train": _cmd_train,
        "bench": _cmd_bench,
        "sweep": _cmd_sweep,
        "report": _cmd_report,
        "demo": _cmd_demo,
        "list": _cmd_list,
    }
    try:
        load_entry_points()  # installed packages' plugins, before any name is looked up
        return handlers[args.command](args)
    except (ConfigError, DataError, CheckpointError) as err:
        print(f"overtone: error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"overtone: error: {err}", file=sys.stderr)
        return 1
    except RunInterrupted as err:
        print(f"overtone: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("overtone: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
