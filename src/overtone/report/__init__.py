"""``overtone report``: one self-contained HTML page for a run, a bench or a demo folder.

Every training run below the folder (a directory with ``config.toml`` and ``metrics.jsonl``)
is read. Runs of one *cell* share a folder and differ only in a trailing ``-seed<k>``; cells of
one folder form a *group* (``runs/<group>/<cell>-seed<k>``, as ``overtone bench`` and
``overtone demo`` write them). The page holds, per group:

- the results tables (``summary.json`` of a bench: claims and ranked cells; else one row per
  cell, mean ± std over seeds);
- learning curves with seed bands (mean, min..max);
- decision boundaries of the first seed of each cell, for 2-D data;
- every figure a family registered (:mod:`overtone.figures`) that applies to the runs: learned
  basis activation shapes against their initialization, harmonic spectra, sparsity over time
  and mask images, β and temperature trajectories.

Figures are PNG embedded as ``data:`` URIs, so the file needs nothing else to display.

Modules: ``runs`` (discovery), ``models`` (a run's models and data), ``tables``, ``generic``
(the figures for every run), ``page`` (assembly).
"""

import overtone.build  # noqa: F401  (imports every family: their models and report figures)
from overtone.figures import RunRecord
from overtone.report.models import ModelLoader
from overtone.report.page import build_report, group_figures, write_report
from overtone.report.runs import find_runs

__all__ = ["ModelLoader", "RunRecord", "build_report", "find_runs", "group_figures",
           "write_report"]  # fmt: skip
