"""Report building blocks: evidence highlighting, example choice, escaped tables, the template."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from covalue.analysis.frame import frame_from_files
from covalue.framework import load_codebook
from covalue.reporting.examples import excerpt_window, highlight, merge_spans, pick_examples
from covalue.reporting.html import Block, Report, Section, render_report, table_html

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_spans_are_merged_and_sorted() -> None:
    assert merge_spans([[10, 20], [0, 3], [15, 25], [25, 30], [40, 40]]) == [(0, 3), (10, 30)]


def test_highlight_escapes_text_and_marks_evidence() -> None:
    text = f"Fine. {XSS} They charged me twice!"
    start = text.index("They")
    html = str(highlight(text, [[start, len(text)]]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.endswith("<mark>They charged me twice!</mark>")
    assert html.count("<mark>") == 1


def test_long_texts_are_cut_around_their_evidence() -> None:
    text = "a" * 2000 + "EVIDENCE" + "b" * 2000
    start, end = excerpt_window(text, [(2000, 2008)], limit=100)
    assert end - start == 100 and start < 2000 and end > 2008
    html = str(highlight(text, [[2000, 2008]], limit=100))
    assert html.startswith("…") and html.endswith("…") and "<mark>EVIDENCE</mark>" in html
    assert excerpt_window("short", [], limit=100) == (0, 5)


def test_examples_prefer_incidents_with_evidence_and_are_deterministic(example_dir: Path) -> None:
    codebook = load_codebook("vcd")
    frame = frame_from_files(example_dir / "incidents.csv", example_dir / "labels_gold.csv", codebook)
    with_evidence = frame[frame["reasons"].map(lambda r: "R4.4" in r)].iloc[-1]["item_id"]
    frame["evidence"] = [{"reasons:R4.4": [[0, 10]]} if item == with_evidence else {} for item in frame["item_id"]]
    first = pick_examples(frame, codebook, "reasons", ["R4.4", "R1.1"], per_code=2, seed=3)
    again = pick_examples(frame, codebook, "reasons", ["R4.4", "R1.1"], per_code=2, seed=3)
    assert [e.item_id for e in first] == [e.item_id for e in again]
    assert [e.code for e in first] == ["R4.4", "R4.4", "R1.1", "R1.1"]
    assert first[0].item_id == with_evidence and first[0].has_evidence and "<mark>" in first[0].html
    assert not first[1].has_evidence
    for example in first:
        codes = frame.loc[frame.item_id == example.item_id, "reasons"].item()
        assert example.code in codes
    other_seed = pick_examples(frame, codebook, "reasons", ["R1.1"], per_code=2, seed=4)
    assert [e.item_id for e in other_seed] != [e.item_id for e in first[2:]]


def test_examples_fetch_texts_when_the_frame_has_none(example_dir: Path) -> None:
    codebook = load_codebook("vcd")
    frame = frame_from_files(example_dir / "incidents.csv", example_dir / "labels_gold.csv", codebook, with_text=False)
    with pytest.raises(ValueError, match="text_of"):
        pick_examples(frame, codebook, "valence", ["co_creation"])
    asked: list[str] = []

    def fetch(ids):
        asked.extend(ids)
        return {i: f"text of {i}" for i in ids}

    chosen = pick_examples(frame, codebook, "valence", ["co_creation"], text_of=fetch)
    assert len(chosen) == 2 and asked == [e.item_id for e in chosen]
    assert str(chosen[0].html) == f"text of {chosen[0].item_id}"


def test_tables_escape_cells_format_shares_and_say_when_cut() -> None:
    frame = pd.DataFrame({"code": [XSS, "b", "c"], "n": [1200, 2, 3], "share": [0.5, 0.25, 0.125]})
    html = str(table_html(frame, max_rows=2))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "1,200" in html and "50.0 %" in html and "25.0 %" in html
    assert "12.5 %" not in html and "1 more rows in the workbook" in html


def test_the_template_escapes_text_and_embeds_css() -> None:
    report = Report(
        title=XSS,
        subtitle="s",
        version="0",
        codebook="vcd@1.0.0",
        footer="f",
        sections=[Section("a", "Section A", XSS, [Block("text", items=[XSS]), Block("cards", items=[("n", "3")])])],
    )
    html = render_report(report)
    assert "<script>" not in html and html.count("&lt;script&gt;") == 4  # title, heading, lead, paragraph
    assert "<style>" in html and "table.data" in html
    assert 'href="#a"' in html
