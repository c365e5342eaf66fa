"""The HTML report is one self-contained file whose embedded plots really render: checked by
decoding the embedded PNGs and by a screenshot in headless Chromium."""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_reports_helpers import binary, context, math_items, put_cell

from reports.console import print_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLOT_BLUE = (31, 119, 180)  # matplotlib's first colour (C0): used by the plots only, never by the page's CSS


@pytest.fixture
def html_report(tmp_path) -> Path:
    ctx = context(tmp_path / "store")
    n = 120
    for model, rate, tokens in (("sft", 0.45, 50), ("grpo-1k", 0.8, 40), ("grpo-1k-def", 0.6, 45)):
        put_cell(ctx, model, "indomain", "thesis", math_items(binary(n, rate, 7), tokens=[tokens] * n))
    written = print_report(ctx, ["indomain"], tmp_path / "out", formats=["html"])
    return next(p for p in written if p.suffix == ".html")


def test_html_is_self_contained_with_valid_pngs(html_report):
    text = html_report.read_text()
    assert "<table" in text and "grpo-1k" in text and "Provenance" in text
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', text)
    assert len(srcs) >= 2  # accuracy with CIs, accuracy vs efficiency
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:40]
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        img = Image.open(io.BytesIO(png))
        img.load()
        assert img.width > 200 and img.height > 150
    # nothing fetched from elsewhere: no external scripts, stylesheets or images
    assert not re.search(r'(src|href)="(https?:|//|file:)', text)


def test_html_renders_in_headless_chromium(html_report, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI installs it")
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1400,3000",
           html_report.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (3000, 1400)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 500, f"only {len(colours)} distinct colours: blank page?"
    assert img.std() > 10
    # the bars of the accuracy plot are drawn in matplotlib's C0 blue: the embedded images rendered
    blue = np.all(np.abs(img.astype(int) - PLOT_BLUE) <= 6, axis=2)
    assert blue.sum() > 2000, f"{blue.sum()} plot-blue pixels: the embedded plots did not render"
