"""The main job end to end: `covalue analyze` and `covalue report` on real incidents.

Runs on the first 150 incidents of the bundled example (with their reference codes) to stay
quick; the README's command runs the same job on all 500.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from covalue.cli.main import app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SUBSET = 150
EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "covalue" / "data" / "example"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)


def _subset(example_dir: Path, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    incidents, labels = folder / "incidents.csv", folder / "labels.csv"
    with (example_dir / "incidents.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[: SUBSET + 1]
    with incidents.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(kept)
    ids = {row[0] for row in kept[1:]}
    with (example_dir / "labels_gold.csv").open(encoding="utf-8", newline="") as handle:
        gold = list(csv.reader(handle))
    with labels.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([gold[0], *(row for row in gold[1:] if row[0] in ids)])
    return incidents, labels


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    root = tmp_path_factory.mktemp("analyze")
    incidents, labels = _subset(EXAMPLE, root / "data")
    out = root / "out"
    args = ["analyze", str(incidents), "--labels", str(labels), "--out", str(out), "--bootstrap", "200"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, incidents, labels, result.output


def test_analyze_writes_report_workbook_codings_tables_and_figures(analysed) -> None:
    out, _, _, output = analysed
    for name in ("report.html", "tables.xlsx", "codings.csv", "covalue.db"):
        assert (out / name).is_file(), name
        assert str(out / name) in output.replace("\n", "")
    with (out / "codings.csv").open(encoding="utf-8", newline="") as handle:
        coded = list(csv.DictReader(handle))
    assert len(coded) == SUBSET
    assert {row["valence"] for row in coded} <= {"co_destruction", "co_creation", "mixed", "no_creation"}
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "gioia_structure.png" in figures and "gioia_structure.svg" in figures
    assert "reasons_timing_relationship.svg" in figures
    for png in (out / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sheets = load_workbook(out / "tables.xlsx", read_only=True).sheetnames
    for expected in ("gioia_structure", "reasons_timing_relationship", "recommendations", "reliability"):
        assert any(sheet.startswith(expected[:31]) for sheet in sheets), (expected, sheets)
    assert (out / "tables" / "reliability.csv").is_file()


def test_report_is_self_contained_and_states_its_methods(analysed) -> None:
    out, _, labels, _ = analysed
    with labels.open(encoding="utf-8", newline="") as handle:
        labelled = sum(1 for _ in csv.DictReader(handle))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "<script" not in html.lower()
    for section in ("overview", "fix-first", "gioia", "timing", "examples", "reliability", "methods"):
        assert f'id="{section}"' in html, section
    assert f"The sample comprises {SUBSET} incidents" in html
    assert "Reliability was assessed on the" in html and "reference" in html
    assert "Krippendorff α" in html and "<mark>" in html
    # the reference incidents of the example are in the bundled coder's training data: the report says so
    assert f"Caution: {labelled} of the {labelled} compared incidents were in the training data" in html
    assert html.count("<svg") >= 4
    assert len(html) < 5_000_000


def test_rerunning_resumes_and_gives_the_same_report(analysed) -> None:
    out, incidents, labels, _ = analysed
    before = (out / "report.html").read_bytes()
    args = ["analyze", str(incidents), "--labels", str(labels), "--out", str(out), "--bootstrap", "200"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "imported before" in result.output and "Coded 0 incidents" in result.output
    assert (out / "report.html").read_bytes() == before


def test_report_of_a_stored_project_for_another_coder(analysed, tmp_path: Path) -> None:
    out, _, _, _ = analysed
    target = tmp_path / "reference-report"
    db = str(out / "covalue.db")
    result = CliRunner().invoke(
        app, ["report", "--db", db, "--coder", "reference", "--out", str(target), "--bootstrap", "0"]
    )
    assert result.exit_code == 0, result.output
    html = (target / "report.html").read_text(encoding="utf-8")
    assert "coder &#39;reference&#39;" in html and "Reliability was assessed" in html
    missing = CliRunner().invoke(app, ["report", "--db", db, "--coder", "nobody", "--out", str(target)])
    assert missing.exit_code == 1 and "no coder 'nobody'" in missing.output


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_report_renders_in_chromium_without_network(analysed, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    out, _, _, _ = analysed
    requested: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.route(
            "**/*",
            lambda route: route.abort() if not route.request.url.startswith(("file:", "data:")) else route.continue_(),
        )
        page.goto((out / "report.html").as_uri())
        assert page.title().startswith("Value co-creation and co-destruction")
        assert page.locator("section").count() >= 6
        box = page.locator("#gioia svg").first.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 200
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert all(url.startswith(("file:", "data:")) for url in requested), requested
    assert (tmp_path / "report.png").stat().st_size > 50_000
