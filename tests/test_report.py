"""overtone report: the HTML page of a bench, with every figure kind; rendered in Chromium."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from overtone import figures
from overtone._registry import Registry
from overtone.bench import run_bench, spec_from_dict
from overtone.figures import Figure, FigureContext, get_figure, list_figures
from overtone.landau import RECIPES as LANDAU_RECIPES
from overtone.report import ModelLoader, build_report, find_runs, write_report

BASE = {"epochs": 2, "batch_size": 64, "data": "moons", "data_args": {"n_samples": 300}}
SMALL = {"widths": [8], "batch_norm": False, "dropout": 0.0}
MODELS = {
    "mlp": {"model": "mlp", "model_args": SMALL},
    "hermite": {"model": "mlp", "model_args": {**SMALL, "activation": "hermite",
                                               "activation_args": {"degree": 3}}},
    "harmonic": {"model": "harmonic-mlp", "model_args": SMALL},
    "landau": {"model": "landau-net", **LANDAU_RECIPES["default"],
               "model_args": {"preset": "default", "hidden": 8}},
    "pruned": {"model": "mlp", "model_args": SMALL, "pruner": "magnitude", "sparsity": 0.5,
               "pruner_args": {"update_every": 2}},
}  # fmt: skip
SECTIONS = (
    "learning curves",
    "decision boundaries",
    "learned activation shapes",
    "harmonic layer's spectrum",
    "sparsity per epoch",
    "final masks",
    "β (mean over each layer's field) and temperature",
)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "bench"
    spec = spec_from_dict({"base": BASE, "models": MODELS, "seeds": 2, "baseline": "mlp"}, "fig")
    with pytest.warns(UserWarning, match="update"):  # few mask updates in 2 tiny epochs
        run_bench(spec, out, workers=1, progress=False)
    write_report(out)
    return out


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.captions: list[str] = []
        self.tables = 0
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        self.tables += tag == "table"
        self._in_caption = tag == "figcaption"

    def handle_endtag(self, tag):
        self._in_caption = False if tag == "figcaption" else self._in_caption

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)


def png_size(uri: str) -> tuple[int, int]:
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_holds_every_figure_kind_and_the_tables(bench_dir):
    page = Page()
    page.feed((bench_dir / "report.html").read_text())
    text = " ".join(page.captions)
    for section in SECTIONS:
        assert section in text, section
    assert page.tables >= 1
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")  # self-contained
        width, height = png_size(image["src"])
        assert width > 100 and height > 100
    assert "http" not in re.sub(r'src="data:[^"]*"', "", (bench_dir / "report.html").read_text())


def test_report_reads_runs_by_group_cell_and_seed(bench_dir):
    runs = find_runs(bench_dir)
    assert len(runs) == 10 and {r.group for r in runs} == {"fig"}
    assert sorted({r.cell for r in runs}) == sorted(MODELS)
    assert {r.seed for r in runs} == {0, 1} and all(r.status == "ok" for r in runs)
    landau = next(r for r in runs if r.cell == "landau")
    assert "temperature" in landau.history[0] and "beta/net.1" in landau.history[0]


def test_report_of_a_single_run(bench_dir):
    page = build_report(bench_dir / "runs" / "fig" / "hermite-seed0")
    assert page.count("<img") == 3  # curves, decision boundary, activation shape
    assert "hermite" in page


# --------------------------------------------------------------------------- registered figures

FAMILY_FIGURES = {  # registered name -> (module, the cells it applies to in this bench)
    "basis-activation-shapes": ("overtone.basis.figures", {"hermite"}),
    "harmonic-spectra": ("overtone.harmonic.figures", {"harmonic"}),
    "landau-beta-temperature": ("overtone.landau.figures", {"landau"}),
    "sparsity-curves": ("overtone.sparsity.figures", {"pruned"}),
    "sparsity-masks": ("overtone.sparsity.figures", {"pruned"}),
}


@pytest.mark.parametrize("name", sorted(FAMILY_FIGURES))
def test_each_family_module_registers_its_figure_and_draws_it_only_where_it_applies(
    bench_dir, name
):
    module, applies_to = FAMILY_FIGURES[name]
    assert name in list_figures()
    draw = get_figure(name)
    assert draw.__module__ == module
    runs = find_runs(bench_dir)
    loader = ModelLoader()
    for cell in MODELS:
        drawn = draw(FigureContext(cell, [r for r in runs if r.cell == cell], loader))
        assert len(drawn) == (cell in applies_to), (name, cell)
        for figure in drawn:
            assert figure.data[:8] == b"\x89PNG\r\n\x1a\n" and figure.caption


def test_a_registered_figure_appears_on_the_page_for_the_runs_it_applies_to(bench_dir, monkeypatch):
    registry = Registry("figure")
    for name in list_figures():
        registry.register(name, get_figure(name))
    monkeypatch.setattr(figures, "FIGURES", registry)

    def seeds(ctx: FigureContext) -> list[Figure]:  # applies to groups with a harmonic cell
        if "harmonic" not in ctx.cells():
            return []
        svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="120"/>'
        return [Figure(f"{ctx.name}: custom <seeds> {len(ctx.runs)}", svg, "image/svg+xml")]

    figures.register_figure("zz-custom-seeds", seeds)
    assert list_figures()[-1] == "zz-custom-seeds"
    page = build_report(bench_dir)
    caption = html.escape("fig: custom <seeds> 10")
    assert f"<figcaption>{caption}</figcaption>" in page
    assert f'alt="{caption}" src="data:image/svg+xml;base64,' in page
    assert page.count("<img") == 8  # the seven of the bench, then the registered one
    assert page.index("final masks") < page.index(caption)  # registered ones in name order
    single = build_report(bench_dir / "runs" / "fig" / "hermite-seed0")
    assert "custom" not in single and single.count("<img") == 3
    with pytest.raises(ValueError, match="'zz-custom-seeds' is already registered"):
        figures.register_figure("zz-custom-seeds", seeds)


def test_importing_the_figure_registry_or_a_family_figure_module_loads_no_matplotlib():
    code = """if True:
        import sys, overtone
        before = set(sys.modules)
        import overtone.figures
        new = set(sys.modules) - before
        import overtone.basis.figures, overtone.harmonic.figures, overtone.landau.figures
        import overtone.sparsity.figures
        heavy = [m for m in sys.modules if m.split(".")[0] == "matplotlib"
                 or m in ("overtone.viz", "overtone.report")]
        engine = [m for m in new if m.startswith(("overtone.train", "overtone.engine", "torch"))]
        print(sorted(new), heavy, engine)
        sys.exit(1 if heavy or engine else 0)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


CHECKER = """<script>
window.__errors = [];
const original = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); original(...args); };
window.addEventListener('error', e => window.__errors.push(
    'error: ' + (e.message || (e.target && (e.target.src || '').slice(0, 40)))), true);
window.addEventListener('load', () => {
  const figures = [...document.querySelectorAll('img, svg, canvas')].map(el => {
    const box = el.getBoundingClientRect();
    return {w: box.width, h: box.height, natural: el.naturalWidth || 0, ok: el.complete};
  });
  const out = document.createElement('pre');
  out.id = 'overtone-check';
  out.textContent = JSON.stringify({errors: window.__errors, figures: figures});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(bench_dir, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("OVERTONE_REQUIRE_BROWSER"):
            pytest.fail("OVERTONE_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    page = (bench_dir / "report.html").read_text()
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + CHECKER, 1))
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=10000", "--window-size=1280,2000", "--dump-dom",
         checked.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = re.search(r'<pre id="overtone-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page's check did not run; chromium said: {done.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == []
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "error" in line.lower()], console
    assert len(result["figures"]) == page.count("<img") >= len(SECTIONS)
    for figure in result["figures"]:
        assert figure["ok"] and figure["natural"] > 0
        assert figure["w"] > 0 and figure["h"] > 0
