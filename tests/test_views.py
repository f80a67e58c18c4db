"""Framework views: numbers worked out by hand on small frames, and checked on the bundled example."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from covalue.analysis import views
from covalue.analysis.frame import build_frame, frame_from_files, multi_counts
from covalue.framework.codebook import Codebook
from covalue.framework.loader import load_codebook
from covalue.model.incident import Incident
from covalue.model.labels import LabelRow

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "covalue" / "data" / "example"


@pytest.fixture(scope="module")
def vcd() -> Codebook:
    return load_codebook("vcd")


@pytest.fixture(scope="module")
def example(vcd: Codebook) -> pd.DataFrame:
    return frame_from_files(EXAMPLE / "incidents.csv", EXAMPLE / "labels_gold.csv", vcd)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def make_frame(codebook: Codebook, records: list[dict[str, Any]]) -> pd.DataFrame:
    """An analysis frame through the real builder: ``codes`` maps dimension to a code or a tuple of codes."""
    incidents, rows = [], {}
    for record in records:
        codes = record.pop("codes")
        incidents.append(Incident(text=record.pop("text", ""), **record))
        values = {d: (v,) if isinstance(v, str) else tuple(v) for d, v in codes.items()}
        rows[record["external_id"]] = LabelRow(record["external_id"], values)
    return build_frame(incidents, rows, codebook)


@pytest.fixture
def small(vcd: Codebook) -> pd.DataFrame:
    """Six incidents whose counts the tests below work out by hand."""
    return make_frame(
        vcd,
        [
            {
                "external_id": "i1",
                "source": "airline",
                "relationship_type": "B2C",
                "occurred_at": at("2024-01-10"),
                "customer_id": "A",
                "text": "They promised a refund but it never delivered. I waited on hold for hours.",
                "codes": {
                    "valence": "co_destruction",
                    "reasons": ("R4.2", "R4.3"),
                    "phase": "during",
                    "coping": ("direct_complaint",),
                    "resources_lost": ("money", "time"),
                },
            },
            {
                "external_id": "i2",
                "source": "airline",
                "relationship_type": "B2C",
                "occurred_at": at("2024-01-20"),
                "customer_id": "A",
                "text": "Delayed again, but the agent sorted it.",
                "codes": {
                    "valence": "mixed",
                    "reasons": ("R4.4",),
                    "phase": "after",
                    "coping": ("direct_complaint", "public_complaint"),
                },
            },
            {
                "external_id": "i3",
                "source": "bank",
                "relationship_type": "B2B",
                "occurred_at": at("2024-02-05"),
                "customer_id": "B",
                "text": "The branch told me the wrong thing about the fees.",
                "codes": {
                    "valence": "co_destruction",
                    "reasons": ("R1.1", "R4.2"),
                    "phase": "before",
                    "coping": ("seek_redress",),
                    "resources_lost": ("money",),
                },
            },
            {
                "external_id": "i4",
                "source": "bank",
                "relationship_type": "B2C",
                "occurred_at": at("2024-02-15"),
                "customer_id": "B",
                "text": "Great help, thanks.",
                "codes": {"valence": "co_creation", "phase": "during"},
            },
            {
                "external_id": "i5",
                "source": "council",
                "relationship_type": "G2C",
                "occurred_at": at("2024-03-01"),
                "text": "They charged twice for the permit.",
                "codes": {"valence": "co_destruction", "reasons": ("R9.1",), "phase": "after"},
            },
            {
                "external_id": "i6",
                "source": "council",
                "relationship_type": "G2C",
                "metadata": {"segment": "gold"},
                "text": "When does the office open?",
                "codes": {"valence": "no_creation", "phase": "time_independent"},
            },
        ],
    )


def row(table: pd.DataFrame, **where: Any) -> pd.Series:
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    found = table[mask]
    assert len(found) == 1, f"expected one row for {where}, found {len(found)}"
    return found.iloc[0]


# -- Gioia ------------------------------------------------------------------------------------


def test_gioia_counts_incidents_per_theme_and_aggregate_is_not_the_sum(small, vcd):
    table = views.gioia_structure(small, vcd)
    r4 = table[table["aggregate"] == "R4"].drop_duplicates("theme").set_index("theme")
    assert r4["theme_n"].to_dict() == {"R4.1": 0, "R4.2": 2, "R4.3": 1, "R4.4": 1}
    assert set(r4["aggregate_n"]) == {3}  # i1, i2, i3: i1 has two R4 themes but counts once
    assert r4["theme_n"].sum() == 4
    assert row(table.drop_duplicates("theme"), theme="R1.1")["aggregate_n"] == 1
    assert table.drop_duplicates("aggregate").set_index("aggregate")["aggregate_n"].to_dict() == {
        "R1": 1,
        "R2": 0,
        "R3": 0,
        "R4": 3,
        "R5": 0,
        "R6": 0,
        "R7": 0,
        "R8": 0,
        "R9": 1,
    }


def test_gioia_cues_are_counted_in_the_theme_incidents_only(small, vcd):
    table = views.gioia_structure(small, vcd)
    assert set(table["concept_source"]) == {views.CUE_SOURCE}
    cue = row(table, theme="R1.1", concept="told me the wrong thing, misinformed")
    assert (cue["concept_n"], cue["concept_share"]) == (1, 1.0)
    assert row(table, theme="R4.3", concept="they promised, said they would, but")["concept_n"] == 1
    assert row(table, theme="R4.3", concept="never delivered, never happened")["concept_n"] == 1
    # i1 says "waited on hold" but is not coded R4.4, so the R4.4 cue finds nothing there.
    assert row(table, theme="R4.4", concept="waited, still waiting, on hold")["concept_n"] == 0
    assert row(table, theme="R4.4", concept="delayed, late, behind schedule")["concept_n"] == 1
    assert math.isnan(row(table, theme="R7.1", concept="ignored the warning")["concept_share"])


def test_gioia_rows_follow_codebook_order_and_carry_every_indicator(small, vcd):
    table = views.gioia_structure(small, vcd)
    themes = [c.id for c in vcd.codes("reasons") if c.code.level == "theme"]
    assert list(dict.fromkeys(table["theme"])) == themes
    indicators = sum(len(c.code.indicators) for c in vcd.codes("reasons") if c.code.level == "theme")
    assert len(table) == indicators


def test_gioia_without_text_leaves_cue_counts_missing(small, vcd):
    table = views.gioia_structure(small.drop(columns="text"), vcd)
    assert table["concept_n"].isna().all()
    assert row(table.drop_duplicates("theme"), theme="R4.2")["theme_n"] == 2


def test_gioia_uses_first_order_codes_when_the_codebook_has_them():
    from covalue.framework.schema import CodebookSpec

    spec = {
        "id": "three-level",
        "version": "1.0.0",
        "name": "Three levels",
        "description": "A codebook whose coders apply first-order codes.",
        "dimensions": [
            {
                "id": "why",
                "name": "Why",
                "description": "Reasons.",
                "cardinality": "multi",
                "codes": [
                    {
                        "id": "A",
                        "name": "Aggregate A",
                        "definition": "d",
                        "level": "aggregate",
                        "codable": False,
                        "codes": [
                            {
                                "id": "A1",
                                "name": "Theme A1",
                                "definition": "d",
                                "level": "theme",
                                "codable": False,
                                "codes": [
                                    {"id": "a1x", "name": "Concept x", "definition": "d", "level": "first_order"},
                                    {"id": "a1y", "name": "Concept y", "definition": "d", "level": "first_order"},
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    codebook = Codebook(CodebookSpec.model_validate(spec))
    frame = make_frame(
        codebook,
        [
            {"external_id": "1", "codes": {"why": ("a1x", "a1y")}},
            {"external_id": "2", "codes": {"why": ("a1y",)}},
            {"external_id": "3", "codes": {}},
        ],
    )
    table = views.gioia_structure(frame, codebook, "why")
    assert list(table["concept_id"]) == ["a1x", "a1y"]
    assert list(table["concept_source"]) == [views.FIRST_ORDER_SOURCE] * 2
    assert list(table["concept_n"]) == [1, 2]
    assert set(table["theme_n"]) == {2} and set(table["aggregate_n"]) == {2}


def test_gioia_refuses_a_flat_dimension(small, vcd):
    with pytest.raises(ValueError, match="no aggregate/theme hierarchy"):
        views.gioia_structure(small, vcd, "valence")


@pytest.mark.parametrize(
    ("cue", "text", "found"),
    [
        ("overpriced, rip-off, not worth the money", "What a RIP-OFF!", True),
        ("I thought it meant ..., they meant ...", "i thought it meant meals; they meant drinks", True),
        ("liked ... disliked ...", "Liked: staff. Disliked: room", True),
        ("liked ... disliked ...", "Disliked: room. Liked: staff", False),
        ("the website said ..., but", "but nothing else", False),  # "but" alone is too common to count
        ("late", "I was elated", False),  # whole words only
    ],
)
def test_cue_pattern(cue, text, found):
    pattern = views.cue_pattern(cue)
    assert (pattern is not None and pattern.search(text) is not None) is found


# -- Table 3 ----------------------------------------------------------------------------------


def test_table3_counts_phases_and_relationship_types_of_co_destruction(small, vcd):
    table = views.reasons_timing_relationship(small, vcd)
    r4 = row(table, code="R4")
    assert (r4["level"], r4["n"], r4["share_of_codestruction"]) == ("aggregate", 3, 0.75)
    assert (r4["phase_before_n"], r4["phase_during_n"], r4["phase_after_n"], r4["phase_time_independent_n"]) == (
        1,
        1,
        1,
        0,
    )
    assert (r4["rel_B2C_n"], r4["rel_B2B_n"], r4["rel_B2G_n"], r4["rel_G2C_n"]) == (2, 1, 0, 0)
    assert r4["rel_B2C_share"] == pytest.approx(2 / 3)
    r42 = row(table, code="R4.2")
    assert (r42["parent"], r42["n"], r42["phase_before_n"], r42["phase_during_n"]) == ("R4", 2, 1, 1)
    assert r42["codebook_relationship_types"] == "RI"
    r91 = row(table, code="R9.1")
    assert (r91["n"], r91["share_of_codestruction"], r91["phase_after_share"], r91["rel_G2C_n"]) == (1, 0.25, 1.0, 1)
    assert r91["codebook_timing"] == "time_independent"
    assert row(table, code="R5")["codebook_timing"] == "before"
    total = row(table, level="total")
    assert (total["n"], total["phase_after_n"], total["rel_G2C_n"], total["share_of_codestruction"]) == (4, 2, 1, 1.0)
    assert math.isnan(row(table, code="R7")["phase_after_share"])


def test_table3_rows_are_codebook_order_then_total(small, vcd):
    table = views.reasons_timing_relationship(small, vcd)
    assert list(table["code"]) == [c.id for c in vcd.codes("reasons")] + ["(all)"]
    phase_columns = [c for c in table.columns if c.startswith("phase_") and c.endswith("_n")]
    assert phase_columns == ["phase_before_n", "phase_during_n", "phase_after_n", "phase_time_independent_n"]


def test_table3_valence_none_counts_every_incident(small, vcd):
    table = views.reasons_timing_relationship(small, vcd, valence=None)
    assert row(table, level="total")["n"] == 6
    assert row(table, code="R4")["share_of_codestruction"] == pytest.approx(3 / 6)
    only_mixed = views.reasons_timing_relationship(small, vcd, negative_codes=("mixed",))
    assert row(only_mixed, code="R4")["n"] == 1 and row(only_mixed, code="R4.2")["n"] == 0


def test_table3_on_the_example_matches_the_gold_label_counts(example, vcd):
    table = views.reasons_timing_relationship(example, vcd)
    total = row(table, level="total")
    assert total["n"] == 168 + 36  # co_destruction + mixed in the data README
    themes = table[table["level"] == "theme"]
    assert themes.groupby("parent")["n"].sum()["R4"] == 226  # README counts R4 as the sum of its theme codings
    assert row(table, code="R4")["n"] == 155  # ... but 155 incidents carry an R4 theme
    for _, reason in table.iterrows():
        assert sum(reason[f"phase_{p}_n"] for p in vcd.code_ids("phase")) == reason["n"]
        assert sum(reason[f"rel_{r}_n"] for r in views.RELATIONSHIP_TYPES) == reason["n"]


# -- breakdowns -------------------------------------------------------------------------------


def test_breakdown_by_source_counts_and_shares(small, vcd):
    table = views.breakdown(small, vcd, "valence", "source")
    assert list(table.columns) == ["source", "code", "name", "n", "group_n", "share"]
    assert list(dict.fromkeys(table["source"])) == ["airline", "bank", "council"]
    assert list(dict.fromkeys(table["code"])) == [*vcd.code_ids("valence"), views.NO_CODE]
    airline = table[table["source"] == "airline"].set_index("code")
    assert airline["n"].to_dict() == {"co_destruction": 1, "co_creation": 0, "mixed": 1, "no_creation": 0, "(none)": 0}
    assert set(airline["group_n"]) == {2}
    assert airline.loc["mixed", "share"] == 0.5
    assert table.groupby("source")["share"].sum().tolist() == [1.0, 1.0, 1.0]


def test_breakdown_rolls_up_to_aggregates_and_counts_uncoded(small, vcd):
    table = views.breakdown(small, vcd, "reasons", "source", level="aggregate")
    assert list(dict.fromkeys(table["code"])) == [f"R{i}" for i in range(1, 10)] + [views.NO_CODE]
    airline = table[table["source"] == "airline"].set_index("code")
    assert (airline.loc["R4", "n"], airline.loc["R4", "share"]) == (2, 1.0)  # i1 (two R4 themes) and i2
    bank = table[table["source"] == "bank"].set_index("code")
    assert (bank.loc["R1", "n"], bank.loc["R4", "n"], bank.loc["(none)", "n"], bank.loc["(none)", "share"]) == (
        1,
        1,
        1,
        0.5,
    )


def test_breakdown_by_period_and_missing_groups(small, vcd):
    table = views.breakdown(small, vcd, "valence", "period", freq="M")
    assert list(dict.fromkeys(table["period"])) == ["2024-01", "2024-02", "2024-03", views.UNKNOWN]
    per_period = table.drop_duplicates("period").set_index("period")["group_n"].to_dict()
    assert per_period == {"2024-01": 2, "2024-02": 2, "2024-03": 1, views.UNKNOWN: 1}
    quarters = views.breakdown(small, vcd, "valence", "period", freq="Q", include_none=False)
    assert list(dict.fromkeys(quarters["period"])) == ["2024Q1", views.UNKNOWN]
    assert views.NO_CODE not in set(quarters["code"])
    segments = views.breakdown(small, vcd, "valence", "segment")
    assert segments.drop_duplicates("segment").set_index("segment")["group_n"].to_dict() == {
        "gold": 1,
        views.UNKNOWN: 5,
    }


def test_breakdown_rejects_unknown_keys_and_levels(small, vcd):
    with pytest.raises(ValueError, match="cannot break down by"):
        views.breakdown(small, vcd, "valence", "weather")
    with pytest.raises(ValueError, match="no codes at level"):
        views.breakdown(small, vcd, "coping", "source", level="aggregate")


def test_to_wide_keeps_view_order(small, vcd):
    wide = views.to_wide(views.breakdown(small, vcd, "valence", "source"), values="share")
    assert list(wide.columns) == ["code", "name", "airline", "bank", "council"]
    assert list(wide["code"]) == [*vcd.code_ids("valence"), views.NO_CODE]
    assert wide.set_index("code").loc["no_creation", "council"] == 0.5
    by_reason = views.by_reason(small, vcd, "coping")
    matrix = views.to_wide(by_reason, columns="code", index="reason")
    assert list(matrix.columns[:2]) == ["reason", "reason_name"]
    assert matrix.set_index("reason").loc["R4", "direct_complaint"] == 2


def test_breakdown_on_the_example_covers_every_incident(example, vcd):
    table = views.breakdown(example, vcd, "valence", "source")
    group_n = table.drop_duplicates("source").set_index("source")["group_n"].to_dict()
    assert group_n == {"airline": 60, "booking": 40, "cfpb": 70, "nhs_care_opinion": 40, "twcs": 50}
    assert table.groupby("code", sort=False)["n"].sum().to_dict() == {
        "co_destruction": 168,
        "co_creation": 34,
        "mixed": 36,
        "no_creation": 22,
        "(none)": 0,
    }


# -- trends -----------------------------------------------------------------------------------


def rising_frame(codebook: Codebook, months: list[str]) -> pd.DataFrame:
    """Four incidents a month; month k (1-based) has k co-destruction incidents, the rest co-creation."""
    records = []
    for k, month in enumerate(months, start=1):
        for j in range(4):
            valence = "co_destruction" if j < k else "co_creation"
            records.append(
                {"external_id": f"{month}-{j}", "occurred_at": at(f"{month}-05"), "codes": {"valence": valence}}
            )
    return make_frame(codebook, records)


def test_trend_slope_and_change_on_a_rising_series(vcd):
    result = views.trend(rising_frame(vcd, ["2024-01", "2024-02", "2024-03", "2024-04"]), vcd, "valence")
    summary = result.summary.set_index("code")
    assert summary.loc["co_destruction", "slope"] == pytest.approx(0.25)
    assert summary.loc["co_creation", "slope"] == pytest.approx(-0.25)
    assert summary.loc["co_destruction", "direction"] == "rising"
    assert summary.loc["co_creation", "direction"] == "falling"
    assert summary.loc["mixed", "direction"] == "flat"
    assert (summary.loc["co_destruction", "first_share"], summary.loc["co_destruction", "last_share"]) == (0.25, 1.0)
    assert summary.loc["co_destruction", "change"] == pytest.approx(0.75)
    assert summary.loc["co_destruction", "n"] == 1 + 2 + 3 + 4
    assert result.undated == 0
    periods = result.periods
    assert list(dict.fromkeys(periods["period"])) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert set(periods["period_n"]) == {4}
    assert periods["period_start"].iloc[0] == pd.Timestamp("2024-01-01")


def test_trend_slope_counts_gaps_as_elapsed_periods(vcd):
    gapped = views.trend(rising_frame(vcd, ["2024-01", "2024-03"]), vcd, "valence")
    # share 0.25 in January, 0.5 in March: 0.25 over two months.
    assert gapped.summary.set_index("code").loc["co_destruction", "slope"] == pytest.approx(0.125)
    assert gapped.summary.set_index("code").loc["co_destruction", "periods"] == 2


def test_trend_leaves_out_undated_and_thin_periods(small, vcd):
    result = views.trend(small, vcd, "valence", min_period_n=2)
    assert result.undated == 1
    summary = result.summary.set_index("code")
    assert summary.loc["co_destruction", "periods"] == 2  # March has one incident only
    assert summary.loc["co_destruction", "slope"] == pytest.approx(0.0)  # 1/2 in January and February
    assert set(result.periods["period"]) == {"2024-01", "2024-02", "2024-03"}


def test_least_squares_slope_needs_two_distinct_points():
    import numpy as np

    assert math.isnan(views.least_squares_slope(np.array([3.0]), np.array([1.0])))
    assert views.least_squares_slope(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.5, 0.0])) == pytest.approx(-0.5)


# -- co-occurrence ----------------------------------------------------------------------------


def test_cooccurrence_counts_and_symmetry(small, vcd):
    matrix = views.cooccurrence(small, vcd, "reasons")
    assert list(matrix.index) == vcd.code_ids("reasons") and matrix.index.name == "reasons"
    assert (matrix.to_numpy() == matrix.T.to_numpy()).all()
    assert matrix.loc["R4.2", "R4.2"] == 2
    assert matrix.loc["R4.2", "R4.3"] == 1 and matrix.loc["R4.2", "R1.1"] == 1 and matrix.loc["R4.3", "R1.1"] == 0
    aggregates = views.cooccurrence(small, vcd, "reasons", level="aggregate")
    assert aggregates.loc["R4", "R4"] == 3 and aggregates.loc["R4", "R1"] == 1 and aggregates.loc["R4", "R9"] == 0


def test_cooccurrence_across_dimensions_and_measures(small, vcd):
    matrix = views.cooccurrence(small, vcd, "reasons", "coping", level="aggregate")
    assert matrix.shape == (9, len(vcd.code_ids("coping")))
    assert (matrix.index.name, matrix.columns.name) == ("reasons", "coping")
    assert matrix.loc["R4", "direct_complaint"] == 2 and matrix.loc["R4", "seek_redress"] == 1
    lift = views.cooccurrence(small, vcd, "reasons", measure="lift")
    assert lift.loc["R4.2", "R1.1"] == pytest.approx(1 * 6 / (2 * 1))
    assert math.isnan(lift.loc["R7.1", "R4.2"])
    jaccard = views.cooccurrence(small, vcd, "reasons", measure="jaccard")
    assert jaccard.loc["R4.2", "R4.3"] == pytest.approx(1 / (2 + 1 - 1))
    assert jaccard.loc["R4.2", "R4.2"] == 1.0


def test_cooccurrence_diagonal_is_the_code_count_on_the_example(example, vcd):
    matrix = views.cooccurrence(example, vcd, "reasons")
    counts = multi_counts(example, "reasons")
    for code in matrix.index:
        assert matrix.loc[code, code] == counts.get(code, 0)
    assert (matrix.to_numpy() == matrix.T.to_numpy()).all()
    assert views.cooccurrence(example, vcd, "reasons", level="aggregate").loc["R4", "R4"] == 155


# -- by reason --------------------------------------------------------------------------------


def test_by_reason_row_shares_and_uncoded(small, vcd):
    table = views.by_reason(small, vcd, "coping")
    assert list(table.columns) == ["reason", "reason_name", "reason_n", "code", "name", "n", "share"]
    r4 = table[table["reason"] == "R4"].set_index("code")
    assert set(r4["reason_n"]) == {3}
    assert r4.loc["direct_complaint", "n"] == 2 and r4.loc["direct_complaint", "share"] == pytest.approx(2 / 3)
    assert r4.loc["public_complaint", "n"] == 1 and r4.loc["seek_redress", "n"] == 1 and r4.loc["(none)", "n"] == 0
    r9 = table[table["reason"] == "R9"].set_index("code")
    assert (r9.loc["(none)", "n"], r9.loc["(none)", "share"]) == (1, 1.0)
    themes = views.by_reason(small, vcd, "resources_lost", reason_level="theme")
    r42 = themes[themes["reason"] == "R4.2"].set_index("code")
    assert (r42.loc["money", "n"], r42.loc["time", "n"], r42.loc["(none)", "n"]) == (2, 1, 0)


# -- timelines --------------------------------------------------------------------------------


def test_timeline_orders_by_time_then_thread_position(vcd):
    frame = make_frame(
        vcd,
        [
            {"external_id": "late", "customer_id": "C", "occurred_at": at("2024-05-01"), "codes": {"valence": "mixed"}},
            {"external_id": "undated", "customer_id": "C", "codes": {"valence": "no_creation"}},
            {
                "external_id": "second",
                "customer_id": "C",
                "occurred_at": at("2024-04-01"),
                "thread_position": 2,
                "codes": {"valence": "co_creation"},
            },
            {
                "external_id": "first",
                "customer_id": "C",
                "occurred_at": at("2024-04-01"),
                "thread_position": 1,
                "codes": {"valence": "co_destruction", "reasons": ("R4.4",)},
            },
            {
                "external_id": "other",
                "customer_id": "D",
                "occurred_at": at("2024-01-01"),
                "codes": {"valence": "mixed"},
            },
        ],
    )
    table = views.timeline(frame, "customer_id", "C")
    assert list(table["item_id"]) == ["first", "second", "late", "undated"]
    assert list(table["step"]) == [1, 2, 3, 4]
    assert list(table.columns[:6]) == ["step", "item_id", "occurred_at", "thread_position", "source", "channel"]
    assert {"valence", "reasons", "coping", "resources_lost", "text"} <= set(table.columns)
    assert table.loc[0, "reasons"] == ("R4.4",)
    keys = views.timeline_keys(frame, "customer_id", min_incidents=1)
    assert list(keys["customer_id"]) == ["C", "D"]
    c = keys.iloc[0]
    assert (c["n"], c["span_days"]) == (4, 30.0)
    assert c["valence_sequence"] == "co_destruction > co_creation > mixed > no_creation"
    assert views.timeline(frame, "customer_id", "nobody").empty


def test_timeline_keys_filters_and_sorts(small):
    keys = views.timeline_keys(small, "customer_id")
    assert list(keys["customer_id"]) == ["A", "B"] and list(keys["n"]) == [2, 2]
    assert views.timeline_keys(small, "customer_id", min_incidents=3).empty
    assert views.timeline_keys(small, "thread_id").empty  # no threads in the small frame


def test_timeline_keys_on_the_example(example):
    keys = views.timeline_keys(example, "customer_id")
    assert set(keys["customer_id"]) == {"115911", "kidchorusteach"}
    first = views.timeline(example, "customer_id", "115911")
    assert first["occurred_at"].is_monotonic_increasing


def test_views_leave_the_frame_unchanged(small, vcd):
    before = small.copy(deep=True)
    views.gioia_structure(small, vcd)
    views.reasons_timing_relationship(small, vcd)
    views.breakdown(small, vcd, "reasons", "period", level="aggregate")
    views.trend(small, vcd, "reasons")
    views.cooccurrence(small, vcd, "reasons", "coping")
    views.by_reason(small, vcd, "coping")
    views.timeline(small, "customer_id", "A")
    pd.testing.assert_frame_equal(small, before)


def test_views_work_for_a_single_valued_hierarchy():
    codebook = load_codebook("cit-service-encounter")
    dimension = "employee_behaviour"
    themes = [c.id for c in codebook.codes(dimension) if c.code.level == "theme"]
    frame = make_frame(
        codebook,
        [
            {"external_id": "1", "source": "s", "codes": {dimension: themes[0]}},
            {"external_id": "2", "source": "s", "codes": {dimension: themes[1]}},
            {"external_id": "3", "source": "t", "codes": {}},
        ],
    )
    first_group = codebook.roll_up(dimension, themes[0], "aggregate")
    gioia = views.gioia_structure(frame, codebook, dimension)
    assert row(gioia.drop_duplicates("aggregate"), aggregate=first_group)["aggregate_n"] == 2
    table = views.breakdown(frame, codebook, dimension, "source", level="aggregate")
    assert row(table, source="s", code=first_group)["share"] == 1.0
    assert row(table, source="t", code=views.NO_CODE)["n"] == 1
    matrix = views.cooccurrence(frame, codebook, dimension)
    assert matrix.loc[themes[0], themes[1]] == 0 and matrix.loc[themes[1], themes[1]] == 1


# -- writing ----------------------------------------------------------------------------------


def test_write_tables_csv_and_xlsx_round_trip(small, vcd, tmp_path):
    long_name = "reasons by aggregate and source, all incidents"
    tables = {
        long_name: views.breakdown(small, vcd, "reasons", "source", level="aggregate"),
        long_name + " (copy)": views.breakdown(small, vcd, "valence", "source"),
        "cooccurrence": views.cooccurrence(small, vcd, "reasons", level="aggregate"),
        "timeline": views.timeline(small, "customer_id", "A"),
    }
    written = views.write_tables(tables, tmp_path / "out")
    names = [p.name for p in written]
    assert names[-1] == "tables.xlsx" and len(names) == 5
    assert not list((tmp_path / "out").glob("*.part"))

    with (tmp_path / "out" / "timeline.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["item_id"] == "i1" and rows[0]["reasons"] == "R4.2; R4.3"
    assert rows[0]["occurred_at"] == "2024-01-10T00:00:00+00:00"
    matrix_csv = pd.read_csv(tmp_path / "out" / "cooccurrence.csv", index_col=0)
    assert matrix_csv.loc["R4", "R4"] == 3

    book = load_workbook(tmp_path / "out" / "tables.xlsx")
    assert len(book.sheetnames) == 4 and all(len(n) <= 31 for n in book.sheetnames)
    assert len({n.lower() for n in book.sheetnames}) == 4
    first = book[book.sheetnames[0]]
    header = [c.value for c in first[1]]
    assert header == ["source", "code", "name", "n", "group_n", "share"]
    assert all(c.font.bold for c in first[1])
    assert first.column_dimensions["C"].width > first.column_dimensions["D"].width >= 8
    airline_r4 = [r for r in first.iter_rows(min_row=2, values_only=True) if r[0] == "airline" and r[1] == "R4"]
    assert airline_r4 == [("airline", "R4", "Inability to serve", 2, 2, 1.0)]
    timeline_sheet = book["timeline"]
    values = [r for r in timeline_sheet.iter_rows(min_row=2, values_only=True)]
    assert values[0][1] == "i1" and values[0][2] == datetime(2024, 1, 10)
    assert "R4.2; R4.3" in values[0]
    matrix_sheet = book["cooccurrence"]
    assert [c.value for c in matrix_sheet[1]][:3] == ["reasons", "R1", "R2"]

    elsewhere = (tmp_path / "book.xlsx").resolve()
    again = views.write_tables({"timeline": tables["timeline"]}, tmp_path / "csv", workbook=str(elsewhere))
    assert again == [tmp_path / "csv" / "timeline.csv", elsewhere] and elsewhere.exists()
