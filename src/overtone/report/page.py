"""The report page: per group its tables, the generic figures, then every registered family
figure that applies (see :mod:`overtone.figures`), as one self-contained HTML file."""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

import torch

from overtone import __version__
from overtone._io import atomic_write_text
from overtone.build import check_names
from overtone.config import ConfigError
from overtone.figures import Figure, FigureContext, RunRecord, get_figure, list_figures
from overtone.report.generic import GENERIC_FIGURES
from overtone.report.models import ModelLoader
from overtone.report.runs import find_runs
from overtone.report.tables import bench_tables, claims_table, runs_table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.meta { color: #666; font-size: 0.9em; }
"""


def group_figures(name: str, runs: list[RunRecord], loader: ModelLoader) -> list[Figure]:
    """Every figure that applies to the runs of one group: the generic ones, then each
    registered figure in name order."""
    ctx = FigureContext(name, runs, loader)
    functions = [*GENERIC_FIGURES, *(get_figure(n) for n in list_figures())]
    return [figure for draw in functions for figure in draw(ctx)]


def figure_html(figure: Figure) -> str:
    """``figure`` as an ``<img>`` with a ``data:`` URI, so the page needs no other file."""
    data = base64.b64encode(figure.data).decode("ascii")
    caption = html.escape(figure.caption)
    return (
        f'<figure><img alt="{caption}" src="data:{figure.mime};base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def build_report(root: str | Path) -> str:
    """The report page of ``root`` as an HTML string."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"report: {root} is not a folder (expected a run, bench or demo folder)")
    skipped: list[str] = []
    runs = find_runs(root, skipped)
    if not runs:
        why = f"; left out {skipped[0]}" if skipped else ""
        raise ConfigError(
            f"report: no training runs under {root} (a run folder holds config.toml and "
            f"metrics.jsonl){why}"
        )
    for run in runs:  # their plugins imported, every name resolves (models are rebuilt)
        try:
            check_names(run.config)
        except ConfigError as err:
            raise ConfigError(f"report: run {run.path}: {err}") from None
    summary_path = root / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    title = f"overtone report: {summary.get('name') or root.name}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(runs)} runs under {html.escape(str(root))}; written '
        f"{time.strftime('%Y-%m-%d %H:%M')} by overtone {__version__}, torch "
        f"{torch.__version__}.</p>",
    ]
    if summary.get("header"):
        parts.append(f'<p class="meta">{html.escape(summary["header"])}</p>')
    if summary.get("claims"):
        parts.append("<h2>Claims</h2>")
        parts.append(claims_table(summary["claims"]))
    loader = ModelLoader()
    groups: dict[str, list[RunRecord]] = {g["name"]: [] for g in summary.get("groups", [])}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    for name, members in groups.items():
        if not members:
            continue
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(bench_tables(summary, name) or runs_table(members))
        parts.extend(figure_html(f) for f in group_figures(name, members, loader))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``root`` to ``out`` (default ``root/report.html``)."""
    out = Path(out) if out else Path(root) / "report.html"
    return atomic_write_text(out, build_report(root))
