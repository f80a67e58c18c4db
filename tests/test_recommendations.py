"""Recommendations as data, and reasons ranked by their share of co-destruction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from covalue.analysis.frame import frame_from_files
from covalue.analysis.recommend import flat_recommendations, rank_reasons, reason_counts
from covalue.errors import CodebookError
from covalue.framework import load_codebook
from covalue.framework.recommendations import bundled_recommendations, citations, load_recommendations


@pytest.fixture(scope="module")
def vcd():
    return load_codebook("vcd")


def test_bundled_recommendations_cover_every_reason_with_cited_sources(vcd) -> None:
    recs = bundled_recommendations(vcd)
    assert recs is not None
    aggregates = [c.id for c in vcd.codes("reasons") if c.code.level == "aggregate"]
    assert sorted(recs.reasons) == sorted(aggregates)
    known = citations(recs, vcd)
    for reason, actions in recs.reasons.items():
        assert actions, reason
        for action in actions:
            assert action.sources and all(s in known for s in action.sources)
            assert len(action.text) > 60


def test_codebooks_without_recommendations_get_none() -> None:
    assert bundled_recommendations(load_codebook("collective-consumption")) is None


def test_errors_name_file_line_and_field(tmp_path: Path, vcd) -> None:
    bad = tmp_path / "recs.yaml"
    bad.write_text("codebook: vcd\nreasons:\n  R1:\n    - title: Tell people\n", encoding="utf-8")
    with pytest.raises(CodebookError) as caught:
        load_recommendations(bad, vcd)
    message = "\n".join(caught.value.problems)
    assert f"{bad}:4: reasons.R1[0].text" in message

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "codebook: vcd\nreasons:\n  R42:\n    - {title: a, text: b, sources: [nobody2020]}\n", encoding="utf-8"
    )
    with pytest.raises(CodebookError) as caught:
        load_recommendations(unknown, vcd)
    problems = "\n".join(caught.value.problems)
    assert "R42: not a code" in problems and "unknown source 'nobody2020'" in problems

    other = tmp_path / "other.yaml"
    other.write_text("codebook: collective-consumption\nreasons: {}\n", encoding="utf-8")
    with pytest.raises(CodebookError, match="not 'vcd'"):
        load_recommendations(other, vcd)


def _frame(rows: list[tuple[str, tuple[str, ...]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"i{n}" for n in range(len(rows))],
            "valence": [v for v, _ in rows],
            "reasons": [r for _, r in rows],
        }
    )


def test_ranking_counts_each_reason_once_per_incident_among_co_destruction_only(vcd) -> None:
    frame = _frame(
        [
            ("co_destruction", ("R4.4", "R4.2")),  # two themes of R4: counts once for R4
            ("co_destruction", ("R1.1",)),
            ("mixed", ("R4.4", "R1.1")),
            ("co_creation", ("R9.1",)),  # not co-destruction: ignored
            ("co_destruction", ()),
        ]
    )
    counts, n = reason_counts(frame, vcd)
    assert n == 4
    assert counts["R4"] == 2 and counts["R1"] == 2 and counts["R9"] == 0
    ranked = rank_reasons(frame, vcd, bundled_recommendations(vcd))
    assert list(ranked["reason"][:2]) == ["R1", "R4"]  # tie broken in codebook order
    assert ranked.loc[ranked.reason == "R4", "share_of_co_destruction"].item() == pytest.approx(0.5)
    assert list(ranked["rank"]) == list(range(1, 10))
    flat = flat_recommendations(ranked)
    assert set(flat["reason"]) == set(ranked["reason"])
    assert flat["what_to_do"].str.len().min() > 0


def test_ranking_on_the_reference_labels_of_the_example(example_dir: Path, vcd) -> None:
    frame = frame_from_files(example_dir / "incidents.csv", example_dir / "labels_gold.csv", vcd)
    ranked = rank_reasons(frame, vcd, bundled_recommendations(vcd))
    destructive = frame[frame["valence"].isin(["co_destruction", "mixed"])]
    # R4 (inability to serve) by hand: incidents whose themes include any R4.x
    by_hand = sum(any(code.startswith("R4.") for code in codes) for codes in destructive["reasons"])
    top = ranked.iloc[0]
    assert top["incidents"] == max(ranked["incidents"])
    assert ranked.loc[ranked.reason == "R4", "incidents"].item() == by_hand
    assert ranked["share_of_co_destruction"].between(0, 1).all()
    assert all(top["sources"]) and "Järvi" in " ".join(top["sources"])
