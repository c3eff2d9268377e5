"""The HTML report: rendered by the pipeline, opened in headless Chromium, every image and audio element loaded."""

import html
import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import snakemake

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Appended to a copy of the report: records, in the DOM, whether each image decoded and each audio element loaded.
PROBE = """<pre id="probe" style="white-space: pre-wrap; word-break: break-all"></pre><script>
function probe() {
  const images = [...document.images].map(i => ({alt: i.alt, width: i.complete ? i.naturalWidth : 0}));
  const audio = [...document.querySelectorAll("audio")].map(
    a => ({readyState: a.readyState, duration: a.duration, error: a.error ? a.error.code : null}));
  const width = id => document.getElementById(id).getBoundingClientRect().width;
  const summary = document.querySelector("img.summary").getBoundingClientRect();
  const layout = {window: window.innerWidth, windowHeight: window.innerHeight,
                  page: document.documentElement.scrollWidth, metrics: width("metrics-table"),
                  summaryHeight: summary.height, summaryWidth: summary.width};
  document.getElementById("probe").textContent = JSON.stringify({images, audio, layout});
}
probe();
setInterval(probe, 50);
</script></body>"""


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); the report was not opened in a browser")
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"  # a fresh profile per launch
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def report(built_workdir):
    snakemake(built_workdir, "results/report.html")
    return built_workdir / "results/report.html"


def test_report_is_self_contained_and_grouped(report):
    page = report.read_text(encoding="utf-8")
    # nothing is fetched from the results directory or the network
    assert not re.search(r'src="(?!data:)', page) and not re.search(r'href="(?!data:|#)', page)
    sections = re.findall(r"<h3>(\w+) in the style of (\w+)</h3>", page)
    assert sections == [("tone", "chirp"), ("tone", "noise")]
    assert page.count('<audio class="output-audio"') == 2 and page.count('<img class="spectrogram"') == 2
    metrics_table = re.search(r'<table id="metrics-table">(.*?)</table>', page, re.S).group(1)
    assert metrics_table.count("<tr>") == 1 + 2  # header + one row per output
    # the key metrics come first, each with its direction and range; the checks and costs have a table of their own
    header = re.findall(r'<th title="(\w+)">([^<]*)<small>([^<]*)</small>', metrics_table)
    assert [name for name, _, _ in header][:3] == ["content_preservation", "style_match", "f0_corr"]
    assert ("f0_corr", "F0 corr ↑", "-1..1") in header and ("dnsmos_ovrl", "DNSMOS OVRL ↑", "1..5") in header
    assert {"speaker_moved", "dnsmos_ovrl_change"} <= {name for name, _, _ in header}
    assert 'title="reconstruction_sc_db">vocoder error ↓<small>dB</small>' in page.split('id="checks-table"')[1]
    # on this music-only corpus the speech metrics do not apply: an empty cell, never "nan", and not beside the
    # players, where each metric is an element of its own (no "0.993,speaker moved")
    assert "<td>nan</td>" not in page and "<td></td>" in page
    headlines = re.findall(r'<span class="metric">([^<]*)<b>([^<]*)</b></span>', page)
    assert [label for label, _ in headlines[:3]] == ["content kept ↑ ", "style match ↑ ", "F0 corr ↑ "]
    assert not any("speaker" in label or "DNSMOS" in label for label, _ in headlines)
    # where it comes from, and that nothing failed
    assert re.search(r'<code id="config-hash">[0-9a-f]{12}</code>', page)
    assert re.search(r'<code id="commit">([0-9a-f]{12}(\+dirty)?|unknown)</code>', page)
    assert "All 2 outputs of the configuration were built" in page and '<pre class="config">' in page
    # audio is embedded compressed (Ogg Vorbis), so the page stays small: the two 1.1 s outputs and the three
    # clips take less than a float32 WAV of one of them would
    sources = re.findall(r'<audio[^>]*src="data:([^;]+);base64,([^"]*)"', page)
    assert len(sources) == 6 and {mime for mime, _ in sources} == {"audio/ogg"}
    assert sum(len(data) for _, data in sources) < 1.1 * 22050 * 4 * 4 / 3
    assert len(page.encode()) / 2 < 250_000  # bytes per output, spectrogram and the shared parts included


def test_report_plays_in_headless_chromium(report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    dom = chromium(tmp_path, "--window-size=1400,1000", "--dump-dom", probed.as_uri()).stdout
    state = json.loads(html.unescape(re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', dom, re.S).group(1)))

    # readable at 1400 px: nothing scrolls sideways, and the summary plot (both axes) fits in the window
    layout = state["layout"]
    assert layout["window"] == 1400 and layout["page"] <= 1400 and layout["metrics"] < 1400, layout
    assert 300 < layout["summaryHeight"] <= 0.8 * layout["windowHeight"], layout

    assert len(state["images"]) == 1 + 2  # summary + one spectrogram per output
    assert all(image["width"] > 300 for image in state["images"]), state["images"]
    # 2 outputs + the pair clips (tone twice, chirp, noise): every one decoded, with its true duration
    durations = sorted(round(a["duration"], 2) for a in state["audio"])
    assert all(a["readyState"] >= 1 and a["error"] is None for a in state["audio"]), state["audio"]
    # (Ogg Vorbis, as Chromium reports it: up to a block longer than the WAV, 0.61 s for 0.6 s)
    assert durations == pytest.approx([0.6, 0.8, 1.1, 1.1, 1.1, 1.1], abs=0.03)

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1400,2000", "--hide-scrollbars", report.as_uri())
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("REPORT_SCREENSHOT"):  # keep it to look at
        shutil.copy(screenshot, os.environ["REPORT_SCREENSHOT"])


def test_snakemake_report_holds_the_figures_and_the_table(built_workdir, tmp_path):
    target = tmp_path / "snakemake_report.html"
    snakemake(built_workdir, "--report", str(target))
    page = target.read_text(encoding="utf-8")
    assert page.count('"mime_type": "image/png"') == 1 + 2  # summary + one spectrogram per output
    assert page.count('"mime_type": "text/tab-separated-values"') == 1  # metrics.tsv
