"""Figures of the framework views: they render, say what they should, and save deterministically."""

from __future__ import annotations

import ast
import base64
import struct
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from defusedxml import ElementTree
from matplotlib.figure import Figure

from covalue.analysis import figures, views
from covalue.analysis.frame import build_frame, frame_from_files
from covalue.framework.codebook import Codebook
from covalue.framework.loader import load_codebook
from covalue.model.incident import Incident
from covalue.model.labels import LabelRow

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "covalue" / "data" / "example"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vcd() -> Codebook:
    return load_codebook("vcd")


@pytest.fixture(scope="module")
def example(vcd: Codebook) -> pd.DataFrame:
    return frame_from_files(EXAMPLE / "incidents.csv", EXAMPLE / "labels_gold.csv", vcd)


@pytest.fixture(scope="module")
def gioia_svg(example, vcd) -> str:
    table = views.gioia_structure(example, vcd)
    return figures.figure_svg(figures.gioia_figure(table, colours=figures.code_colours(vcd, "reasons")))


def svg_texts(svg: str) -> list[str]:
    """Every text label of an SVG (labels are real ``<text>`` elements, not glyph paths)."""
    root = ElementTree.fromstring(svg.encode("utf-8"))
    return ["".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text")]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    return struct.unpack(">II", png[16:24])


def test_gioia_figure_shows_three_levels_with_counts(gioia_svg, vcd):
    texts = svg_texts(gioia_svg)
    assert "R4 Inability to serve" in texts and "n = 155" in texts
    assert "R4.2 Inadequate customer relationship management" in texts and "n = 89" in texts
    assert "• “credit report, credit bureau, reported late” (21)" in texts
    assert {"First-order concepts (codebook cues; theme incidents containing the cue)"} <= set(texts)
    # Three cues per theme at most, and the rest counted: readable with 24 themes.
    themes = [c for c in vcd.codes("reasons") if c.code.level == "theme"]
    assert sum(t.startswith("• ") for t in texts) == 3 * len(themes)
    assert "+ 3 more" in {t.strip() for t in texts}  # R1.1 has six cues


def test_gioia_figure_is_sized_for_its_themes(example, vcd):
    table = views.gioia_structure(example, vcd)
    tall = figures.gioia_figure(table)
    short = figures.gioia_figure(table[table["aggregate"] == "R4"], max_cues=1)
    assert tall.get_size_inches()[1] > 15 > 6 > short.get_size_inches()[1] > 2
    width, height = png_size(figures.figure_png(short, dpi=40))
    expected = short.get_size_inches() * 40
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1


def test_table3_figure(example, vcd):
    table = views.reasons_timing_relationship(example, vcd)
    texts = svg_texts(figures.figure_svg(figures.table3_figure(table)))
    assert {"Observed phase", "Relationship type", "before", "time independent", "B2G", "codebook"} <= set(texts)
    assert "R9 Provider misuse of customer resources (n=57)" in texts
    assert "All co-destruction incidents (n=204)" in texts
    assert "36 (63%)" in texts  # R9 in the after phase
    assert not any(t.startswith("R7") for t in texts)  # no R7 incident: row left out


def test_breakdown_figure_stacks_compositions_and_groups_overlaps(example, vcd):
    valence = views.breakdown(example, vcd, "valence", "source")
    stacked = figures.figure_svg(figures.breakdown_figure(valence, colours=figures.code_colours(vcd, "valence")))
    assert {"cfpb (n=70)", "Value co-destruction", "Mixed (co-creation and co-destruction)", "97%"} <= set(
        svg_texts(stacked)
    )
    assert "#d1495b" in stacked  # the codebook's co-destruction colour
    reasons = views.breakdown(example, vcd, "reasons", "source", level="aggregate")
    texts = svg_texts(figures.figure_svg(figures.breakdown_figure(reasons, title="Reasons by source")))
    assert {"Reasons by source", "R9 Provider misuse of customer resources", "airline (n=60)"} <= set(texts)
    assert "R7 Customer misbehavior" not in texts and "no code" not in texts  # unused code; overlap not stacked


def test_trend_figure(example, vcd):
    result = views.trend(example, vcd, "reasons", freq="Q", level="aggregate")
    texts = svg_texts(figures.figure_svg(figures.trend_figure(result, top=3)))
    labels = [t for t in texts if "pp per period" in t]
    assert len(labels) == 3 and labels[0].startswith("R4 Inability to serve")
    assert any("40 undated incidents left out" in t for t in texts)


def test_cooccurrence_figures(example, vcd):
    counts = views.cooccurrence(example, vcd, "reasons")
    texts = svg_texts(figures.figure_svg(figures.cooccurrence_figure(counts, labels=views.code_names(vcd, "reasons"))))
    assert {"R4.2 Inadequate customer relationship m…", "R4.3", "89", "38"} <= set(texts)
    assert "R7.1" not in texts  # never coded
    lift = views.cooccurrence(example, vcd, "reasons", "coping", level="aggregate", measure="lift")
    lift_texts = svg_texts(figures.figure_svg(figures.cooccurrence_figure(lift)))
    assert {"lift (1 = as often as chance)", "10.40", "seek redress"} <= set(lift_texts)


def test_by_reason_figure(example, vcd):
    table = views.by_reason(example, vcd, "coping")
    texts = svg_texts(figures.figure_svg(figures.by_reason_figure(table, title="Coping by reason")))
    assert {"Coping by reason", "R9 Provider misuse of customer resources (n=57)", "Seek redress"} <= set(texts)
    assert "R4 Inability to serve (n=155)" in texts
    assert "54\n95%" in texts or {"54", "95%"} <= set(texts)  # R9 incidents complained to a third party


def thread(codebook: Codebook) -> pd.DataFrame:
    """A six-turn support thread that ends in a recovery."""
    valences = ["co_destruction", "co_destruction", "no_creation", "co_destruction", "mixed", "co_creation"]
    incidents, rows = [], {}
    for position, valence in enumerate(valences, start=1):
        item = f"t{position}"
        when = datetime(2024, 3, 1, 9, tzinfo=UTC) + pd.Timedelta(hours=7 * position**1.5)
        incidents.append(Incident(item, "text", thread_id="T", thread_position=position, occurred_at=when))
        reasons = ("R4.4", "R4.2") if valence == "co_destruction" else ()
        rows[item] = LabelRow(item, {"valence": (valence,), "reasons": reasons, "coping": ("direct_complaint",)})
    return build_frame(incidents, rows, codebook)


def test_timeline_figure_colours_by_valence_and_labels_reasons(vcd):
    table = views.timeline(thread(vcd), "thread_id", "T")
    svg = figures.figure_svg(figures.timeline_figure(table, colours=figures.code_colours(vcd, "valence")))
    texts = svg_texts(svg)
    assert "1. t1   reasons: R4.4, R4.2   coping: direct complaint" in texts
    assert {"co destruction", "co creation", "date (UTC)"} <= set(texts)
    assert "#d1495b" in svg and "#2a9d8f" in svg  # the codebook's co-destruction and co-creation colours
    undated = table.assign(occurred_at=pd.NaT)
    assert "position in thread" in svg_texts(figures.figure_svg(figures.timeline_figure(undated)))


def test_empty_views_give_a_message_not_an_error(vcd):
    empty_frame = thread(vcd).iloc[0:0]
    for fig in (
        figures.breakdown_figure(views.breakdown(empty_frame, vcd, "valence", "source")),
        figures.timeline_figure(views.timeline(empty_frame, "thread_id", "T")),
        figures.table3_figure(views.reasons_timing_relationship(empty_frame, vcd)),
        figures.by_reason_figure(views.by_reason(empty_frame, vcd, "coping")),
        figures.cooccurrence_figure(views.cooccurrence(empty_frame, vcd, "reasons")),
        figures.trend_figure(views.trend(empty_frame, vcd, "valence")),
    ):
        assert isinstance(fig, Figure)
        assert any(t.startswith("No ") for t in svg_texts(figures.figure_svg(fig)))


def test_save_figure_writes_png_and_identical_svg(vcd, tmp_path):
    table = views.timeline(thread(vcd), "thread_id", "T")
    fig = figures.timeline_figure(table)
    png_path, svg_path = figures.save_figure(fig, tmp_path / "figs" / "timeline", dpi=60)
    assert (png_path.name, svg_path.name) == ("timeline.png", "timeline.svg")
    first = svg_path.read_bytes()
    width, height = png_size(png_path.read_bytes())
    expected = fig.get_size_inches() * 60
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1 and width > 300
    figures.save_figure(fig, tmp_path / "figs" / "timeline", dpi=60)
    assert svg_path.read_bytes() == first
    rebuilt = figures.figure_svg(figures.timeline_figure(table))
    assert rebuilt.encode("utf-8") == first  # a fresh figure from the same table: same bytes
    assert b"<dc:date>" not in first
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["timeline.png", "timeline.svg"]


def test_png_data_uri(vcd):
    fig = figures.timeline_figure(views.timeline(thread(vcd), "thread_id", "T"))
    uri = figures.figure_png_data_uri(fig, dpi=30)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == PNG_SIGNATURE


def test_figures_do_not_use_pyplot():
    tree = ast.parse(Path(figures.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
    }
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "matplotlib.pyplot" not in imported and "pyplot" not in imported and "matplotlib.pyplot" not in modules
