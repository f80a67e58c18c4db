"""Codebooks: the bundled frameworks load, match the annotation guide, and bad files get located errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from covalue.errors import CodebookError
from covalue.framework import bundled_codebook_ids, load_codebook, parse_codebook
from covalue.model.labels import GUIDE_FIELDS, parse_label_value

GUIDE_REASON_THEMES = [
    "R1.1", "R1.2", "R1.3", "R2.1", "R2.2", "R2.3", "R3.1", "R3.2", "R4.1", "R4.2", "R4.3", "R4.4",
    "R5.1", "R5.2", "R6.1", "R6.2", "R7.1", "R7.2", "R7.3", "R8.1", "R8.2", "R9.1", "R9.2", "R9.3",
]  # fmt: skip

MINIMAL = """\
id: tiny
version: 1.0.0
name: Tiny
description: A two-code test codebook.
sources:
  - id: src1
    citation: Someone (2020). A paper.
dimensions:
  - id: outcome
    name: Outcome
    description: How it ended.
    cardinality: single
    codes:
      - id: good
        name: Good
        definition: It went well.
        sources: [src1]
      - id: bad
        name: Bad
        definition: It went badly.
"""


def test_bundled_codebooks_load() -> None:
    assert bundled_codebook_ids() == ["cit-service-encounter", "collective-consumption", "vcd"]
    for codebook_id in bundled_codebook_ids():
        codebook = load_codebook(codebook_id)
        assert codebook.id == codebook_id
        assert codebook.key == f"{codebook_id}@{codebook.version}"
        assert any(c.codable for c in codebook.all_codes())


def test_vcd_matches_annotation_guide() -> None:
    vcd = load_codebook("vcd")
    assert vcd.dimension_ids == list(GUIDE_FIELDS)
    assert vcd.code_ids("reasons") == GUIDE_REASON_THEMES
    assert vcd.code_ids("reasons", codable_only=False)[:2] == ["R1", "R1.1"]
    assert vcd.code_ids("valence") == ["co_destruction", "co_creation", "mixed", "no_creation"]
    assert vcd.code_ids("wellbeing_decline") == ["customer", "provider", "both", "none"]
    assert "none" not in vcd.code_ids("coping")
    assert not vcd.is_multi("valence") and vcd.is_multi("reasons")
    assert vcd.dimension("reasons").required_when is not None


def test_vcd_hierarchy_timing_and_relationships() -> None:
    vcd = load_codebook("vcd")
    assert vcd.roll_up("reasons", "R4.2", "aggregate") == "R4"
    assert vcd.roll_up("reasons", "R4", "aggregate") == "R4"
    assert vcd.roll_up("reasons", "R4.2", "theme") == "R4.2"
    assert vcd.levels("reasons") == ["aggregate", "theme"]
    r5 = vcd.code("reasons", "R5")
    assert r5.code.timing == ("before",) and not r5.codable
    assert r5.children == ("R5.1", "R5.2")
    assert vcd.code("reasons", "R8").code.timing == ("after",)
    assert set(vcd.code("reasons", "R1.1").code.relationship_types) == {"G2C", "B2C"}
    for flat in vcd.codes("reasons"):
        assert flat.code.definition and flat.code.colour
        if flat.codable:
            assert flat.parent is not None and flat.code.relationship_types


def test_vcd_accepts_every_gold_label(shared_data: Path) -> None:
    vcd = load_codebook("vcd")
    with (shared_data / "dev_gold.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 260
    for row in rows:
        for field in GUIDE_FIELDS:
            codes = parse_label_value(vcd, field, row[field])
            assert len(codes) == len([v for v in row[field].split(";") if v])


def test_parse_label_value_rules() -> None:
    vcd = load_codebook("vcd")
    assert parse_label_value(vcd, "coping", "none") == ()
    assert parse_label_value(vcd, "coping", "") == ()
    assert parse_label_value(vcd, "wellbeing_decline", "none") == ("none",)
    assert parse_label_value(vcd, "reasons", " R4.2 ; R4.2;R1.1") == ("R4.2", "R1.1")
    with pytest.raises(ValueError, match=r"unknown code 'R4\.9'"):
        parse_label_value(vcd, "reasons", "R4.9")
    with pytest.raises(ValueError, match="'R4' is a grouping"):
        parse_label_value(vcd, "reasons", "R4")
    with pytest.raises(ValueError, match="takes one value but got 2"):
        parse_label_value(vcd, "valence", "mixed;co_creation")


def test_minimal_codebook_parses() -> None:
    codebook = parse_codebook(MINIMAL, "tiny.yaml")
    assert codebook.code_ids("outcome") == ["good", "bad"]
    assert codebook.code("outcome", "good").parent is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("        definition: It went well.\n", ""),
            "tiny.yaml:14: dimensions[0].codes[0].definition: Field required",
        ),
        (
            ("cardinality: single", "cardinality: several"),
            "tiny.yaml:12: dimensions[0].cardinality: Input should be",
        ),
        (("version: 1.0.0", "version: one"), "tiny.yaml:2: version: 'one' is not a semantic version"),
        (("- id: bad", "- id: good"), "duplicate code id 'good'"),
        (("sources: [src1]", "sources: [nowhere]"), "cites unknown source 'nowhere'"),
        (("        name: Good\n", "        name: Good\n        colour: red\n"), "'red' is not a colour"),
        (
            ("        name: Good\n", "        name: Good\n        mood: happy\n"),
            "codes[0].mood: Extra inputs",
        ),
        (("id: tiny", "id: 'tiny one'"), "tiny.yaml:1: id: 'tiny one' is not a valid id"),
    ],
)
def test_invalid_codebooks_name_file_line_and_field(change: tuple[str, str], expected: str) -> None:
    broken = MINIMAL.replace(*change, 1)
    assert broken != MINIMAL
    with pytest.raises(CodebookError) as info:
        parse_codebook(broken, "tiny.yaml")
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_parent_rules() -> None:
    flat = MINIMAL.replace("      - id: bad\n", "      - id: bad\n        parent: good\n")
    codebook = parse_codebook(flat, "tiny.yaml")
    assert codebook.code("outcome", "bad").parent == "good"
    assert codebook.code("outcome", "good").children == ("bad",)
    unknown = MINIMAL.replace("      - id: bad\n", "      - id: bad\n        parent: ugly\n")
    with pytest.raises(CodebookError, match="names unknown parent 'ugly'"):
        parse_codebook(unknown, "tiny.yaml")
    cycle = flat.replace("      - id: good\n", "      - id: good\n        parent: bad\n")
    with pytest.raises(CodebookError, match="parent cycle"):
        parse_codebook(cycle, "tiny.yaml")


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodebookError, match=r"bad.yaml:4: invalid YAML"):
        parse_codebook("id: x\nversion: 1.0.0\nname: [unclosed\n", "bad.yaml")
    with pytest.raises(CodebookError, match="no such codebook file"):
        load_codebook(tmp_path / "missing.yaml")
    with pytest.raises(CodebookError, match="unknown codebook 'nope'"):
        load_codebook("nope")
    with pytest.raises(CodebookError, match="must be a YAML mapping"):
        parse_codebook("- a\n- b\n", "list.yaml")


def test_empty_dimensions_are_rejected() -> None:
    with pytest.raises(CodebookError, match="a dimension needs at least one code"):
        parse_codebook(MINIMAL.split("    codes:")[0] + "    codes: []\n", "tiny.yaml")
    with pytest.raises(CodebookError, match="at least one dimension"):
        parse_codebook(MINIMAL.split("dimensions:")[0] + "dimensions: []\n", "tiny.yaml")


def test_grouping_only_dimension_is_rejected() -> None:
    text = MINIMAL.replace(
        "        definition: It went badly.\n", "        definition: It went badly.\n        codable: false\n"
    )
    text = text.replace("        sources: [src1]\n", "        sources: [src1]\n        codable: false\n")
    with pytest.raises(CodebookError, match="no codable code"):
        parse_codebook(text, "tiny.yaml")
