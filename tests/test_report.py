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
PROBE = """<pre id="probe"></pre><script>
function probe() {
  const images = [...document.images].map(i => ({alt: i.alt, width: i.complete ? i.naturalWidth : 0}));
  const audio = [...document.querySelectorAll("audio")].map(
    a => ({readyState: a.readyState, duration: a.duration, error: a.error ? a.error.code : null}));
  document.getElementById("probe").textContent = JSON.stringify({images, audio});
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
    assert 'id="metrics-table"' in page and page.count("<tr>") == 1 + 2  # header + one row per output
    # the field-standard metrics are in the table; on this music-only corpus the speech ones do not apply, and a
    # metric that does not apply is an empty cell, never "nan"
    header = re.search(r"<tr>(<th>.*?)</tr>", page).group(1)
    assert all(f"<th>{c}</th>" in header for c in ("f0_corr", "speaker_moved", "dnsmos_ovrl", "dnsmos_ovrl_change"))
    assert "<td>nan</td>" not in page and "<td></td>" in page and "speaker moved" not in page


def test_report_plays_in_headless_chromium(report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", probed.as_uri()).stdout
    state = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))

    assert len(state["images"]) == 1 + 2  # summary + one spectrogram per output
    assert all(image["width"] > 300 for image in state["images"]), state["images"]
    # 2 outputs + the pair clips (tone twice, chirp, noise): every one decoded, with its true duration
    durations = sorted(round(a["duration"], 2) for a in state["audio"])
    assert all(a["readyState"] >= 1 and a["error"] is None for a in state["audio"]), state["audio"]
    assert durations == [0.6, 0.8, 1.1, 1.1, 1.1, 1.1]

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2000", "--hide-scrollbars", report.as_uri())
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("REPORT_SCREENSHOT"):  # keep it to look at
        shutil.copy(screenshot, os.environ["REPORT_SCREENSHOT"])


def test_snakemake_report_holds_the_figures_and_the_table(built_workdir, tmp_path):
    target = tmp_path / "snakemake_report.html"
    snakemake(built_workdir, "--report", str(target))
    page = target.read_text(encoding="utf-8")
    assert page.count('"mime_type": "image/png"') == 1 + 2  # summary + one spectrogram per output
    assert page.count('"mime_type": "text/tab-separated-values"') == 1  # metrics.tsv
