"""Loss spirals and recovery: hand-made sequences with answers worked out by hand, then real threads."""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from covalue.analysis.frame import build_frame
from covalue.analysis.spirals import (
    NO_REASON,
    RECOVERY_COLUMNS,
    SPIRAL_COLUMNS,
    SpiralConfig,
    detect_spirals,
    recovery,
    recovery_rates,
    sequences,
    spiral_summary,
    wilson_interval,
)
from covalue.framework import load_codebook
from covalue.model.incident import Incident
from covalue.model.labels import LabelRow

REPO = Path(__file__).resolve().parents[1]
TWCS = REPO.parent / "shared" / "data" / "raw" / "customer_support_on_twitter" / "twcs_first5000.csv"
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
VCD = load_codebook("vcd")
MISSING = object()


def incident(
    item: str,
    thread: str,
    minute: int | object | None = MISSING,
    *,
    valence: str = "no_creation",
    reasons: tuple[str, ...] = (),
    lost: tuple[str, ...] = (),
    coping: tuple[str, ...] = (),
    positive: tuple[str, ...] = (),
    position: int | None = None,
    customer: str | None = None,
    provider: str | None = None,
    role: str | None = None,
) -> tuple[Incident, LabelRow]:
    """One coded incident; ``minute`` is minutes after T0 (None = no timestamp, default = the item number)."""
    if minute is MISSING:
        minute = int("".join(ch for ch in item if ch.isdigit()) or 0)
    occurred = None if minute is None else T0 + timedelta(minutes=int(minute))
    metadata: dict[str, Any] = {}
    if provider:
        metadata["provider"] = provider
    if role:
        metadata["role"] = role
    inc = Incident(
        external_id=item,
        text=f"text of {item}",
        source="test",
        occurred_at=occurred,
        customer_id=customer or f"cust-{thread}",
        thread_id=thread,
        thread_position=position,
        metadata=metadata,
    )
    values = {
        "valence": (valence,),
        "reasons": reasons,
        "resources_lost": lost,
        "coping": coping,
        "positive_factors": positive,
    }
    return inc, LabelRow(item_id=item, values=values)


def frame_of(*coded: tuple[Incident, LabelRow], roles: bool = False) -> pd.DataFrame:
    frame = build_frame([c[0] for c in coded], {c[1].item_id: c[1] for c in coded}, VCD)
    if roles:
        frame["role"] = [c[0].metadata.get("role") for c in coded]
    return frame


def one(frame: pd.DataFrame, group: str, config: SpiralConfig | None = None) -> pd.Series:
    result = detect_spirals(frame, VCD, "thread_id", config or SpiralConfig())
    assert list(result.columns) == list(SPIRAL_COLUMNS)
    row = result[result["group"] == group]
    assert len(row) == 1, f"group {group} not in the result"
    return row.iloc[0]


CD = "co_destruction"


# ============================================================================================
# ordering


def test_sequences_order_unordered_timestamps_and_keep_groups_in_first_appearance_order() -> None:
    frame = frame_of(
        incident("b1", "B", 50),
        incident("a3", "A", 30),
        incident("a1", "A", 10),
        incident("a2", "A", 20),
    )
    groups = sequences(frame, "thread_id")
    assert list(groups) == ["B", "A"]
    assert groups["A"]["item_id"].tolist() == ["a1", "a2", "a3"]
    assert groups["A"].index.tolist() == [2, 3, 1]  # the frame's own row labels are kept


def test_primary_loss_is_found_in_time_order_not_row_order() -> None:
    frame = frame_of(
        incident("x2", "A", 20, valence=CD, reasons=("R4.4",), lost=("time",)),
        incident("x1", "A", 10, valence=CD, reasons=("R3.2",), lost=("objects",)),
    )
    row = one(frame, "A")
    assert row["primary_item"] == "x1"
    assert row["trigger_reasons"] == ("R3.2",)
    assert row["secondary_resources"] == ("time",)


def test_equal_timestamps_are_ordered_by_thread_position_then_row_order() -> None:
    frame = frame_of(
        incident("p2", "A", 5, position=2),
        incident("p1", "A", 5, position=1),
        incident("r1", "B", 5, position=1),
        incident("r2", "B", 5, position=1),
    )
    groups = sequences(frame, "thread_id")
    assert groups["A"]["item_id"].tolist() == ["p1", "p2"]
    assert groups["B"]["item_id"].tolist() == ["r1", "r2"]


def test_a_missing_timestamp_makes_thread_position_order_the_group() -> None:
    # By time m2 (09:10) would precede m1 (10:00); m3 has no time. Positions say m3, m1, m2.
    frame = frame_of(
        incident("m1", "A", 60, position=2),
        incident("m2", "A", 10, position=3),
        incident("m3", "A", None, position=1),
        incident("n2", "B", None),
        incident("n1", "B", 5),
        incident("k1", "C", None, position=2),
        incident("k2", "C", None),
        incident("k3", "C", 1, position=1),
    )
    groups = sequences(frame, "thread_id")
    assert groups["A"]["item_id"].tolist() == ["m3", "m1", "m2"]
    assert groups["B"]["item_id"].tolist() == ["n2", "n1"]  # no positions either: row order
    assert groups["C"]["item_id"].tolist() == ["k3", "k1", "k2"]  # no position: after those with one


def test_rows_without_a_group_key_are_left_out_and_grouping_by_customer_spans_threads() -> None:
    frame = frame_of(
        incident("c1", "T1", 1, customer="ann", valence=CD, lost=("money",)),
        incident("c2", "T2", 2, customer="ann", valence=CD, lost=("money", "time")),
        incident("c3", "T3", 3, customer="bob"),
    )
    frame.loc[2, "customer_id"] = None
    groups = sequences(frame, "customer_id")
    assert list(groups) == ["ann"]
    result = detect_spirals(frame, VCD, by="customer_id")
    assert result["group"].tolist() == ["ann"]
    assert result.iloc[0]["secondary_resources"] == ("time",)
    assert bool(result.iloc[0]["losses_grow"])


# ============================================================================================
# losses


def test_a_sequence_without_loss_is_analysed_but_is_no_spiral() -> None:
    frame = frame_of(incident("a1", "A", valence="no_creation"), incident("a2", "A", valence="co_creation"))
    row = one(frame, "A")
    assert row["n_incidents"] == 2
    assert not row["has_loss"]
    assert row["primary_item"] is None
    assert not row["is_spiral"]
    assert not row["recovered"]  # co-creation without a loss before it recovers nothing
    assert row["final_valence"] == "co_creation"


def test_primary_loss_alone_is_no_spiral() -> None:
    frame = frame_of(
        incident("a1", "A", valence="no_creation"),
        incident("a2", "A", valence=CD, reasons=("R4.4",), lost=("time",), coping=("public_complaint",)),
        incident("a3", "A", valence=CD, reasons=("R4.4",), lost=("time",), coping=("public_complaint",)),
    )
    row = one(frame, "A")
    assert row["has_loss"]
    assert row["primary_item"] == "a2"
    assert row["primary_index"] == 1
    assert row["trigger_reasons"] == ("R4.4",)
    assert row["trigger_aggregates"] == ("R4",)
    assert row["primary_resources"] == ("time",)
    assert row["secondary_resources"] == ()
    assert not row["losses_grow"]
    assert row["escalation_path"] == ("public_complaint",)
    assert not row["escalates"]
    assert not row["is_spiral"]
    assert row["spiral_length"] == 0
    assert row["spiral_items"] == ()


def test_a_new_resource_after_the_primary_loss_is_a_secondary_loss() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, reasons=("R3.2", "R1.1"), lost=("time",)),
        incident("a2", "A", valence="no_creation"),
        incident("a3", "A", valence=CD, lost=("money",)),
    )
    row = one(frame, "A")
    assert row["trigger_reasons"] == ("R1.1", "R3.2")  # codebook order
    assert row["trigger_aggregates"] == ("R1", "R3")
    assert row["secondary_resources"] == ("money",)
    assert not row["losses_grow"]  # one resource, then one resource
    assert row["is_spiral"]
    assert row["spiral_items"] == ("a3",)
    assert row["spiral_length"] == 3


def test_growing_losses_without_a_new_resource_still_extend_the_spiral() -> None:
    # time; then money (new); then time+money: nothing new, but two resources > one so far.
    frame = frame_of(
        incident("a1", "A", valence=CD, lost=("time",)),
        incident("a2", "A", valence=CD, lost=("money",)),
        incident("a3", "A", valence="mixed", lost=("time", "money")),
        incident("a4", "A", valence=CD, lost=("money", "time")),  # restating two is not growth
    )
    row = one(frame, "A")
    assert row["secondary_resources"] == ("money",)
    assert row["losses_grow"]
    assert row["max_resources"] == 2
    assert row["spiral_items"] == ("a2", "a3")
    assert row["spiral_length"] == 3


def test_resources_named_in_a_co_creation_incident_are_not_losses() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, lost=("time",)),
        incident("a2", "A", valence="co_creation", lost=("money",)),
    )
    row = one(frame, "A")
    assert row["secondary_resources"] == ()
    assert not row["is_spiral"]
    assert row["recovered"]


def test_escalation_direct_then_public_then_exit() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, coping=("direct_complaint",)),
        incident("a2", "A", valence=CD, coping=("public_complaint", "seek_redress")),
        incident("a3", "A", valence=CD, coping=("exit",)),
    )
    row = one(frame, "A")
    assert row["escalation_path"] == ("direct_complaint", "public_complaint", "exit")
    assert row["coping_path"] == ("direct_complaint", "public_complaint", "seek_redress", "exit")
    assert row["escalates"]
    assert row["is_spiral"]  # escalation alone, no resource coded
    assert row["spiral_items"] == ("a2", "a3")
    assert row["spiral_length"] == 3


def test_repeated_falling_or_merely_starting_coping_does_not_escalate() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD),  # no coping yet
        incident("a2", "A", valence=CD, coping=("public_complaint",)),  # starts coping: not a climb
        incident("a3", "A", valence=CD, coping=("public_complaint", "private_nwom")),
        incident("a4", "A", valence=CD, coping=("direct_complaint", "revenge")),  # falls back
    )
    row = one(frame, "A")
    assert row["escalation_path"] == ("public_complaint",)
    assert row["coping_path"] == ("public_complaint", "private_nwom", "direct_complaint", "revenge")
    assert not row["escalates"]
    assert not row["is_spiral"]


def test_coping_before_the_primary_loss_is_not_part_of_the_path() -> None:
    frame = frame_of(
        incident("a1", "A", valence="no_creation", coping=("direct_complaint",)),
        incident("a2", "A", valence=CD, coping=("public_complaint",)),
    )
    row = one(frame, "A")
    assert row["escalation_path"] == ("public_complaint",)
    assert not row["escalates"]


# ============================================================================================
# recovery


def test_recovery_after_co_destruction_and_relapse() -> None:
    frame = frame_of(
        incident("a1", "A", valence="co_creation"),
        incident("a2", "A", valence=CD, reasons=("R3.2",), lost=("objects",)),
        incident("a3", "A", valence="no_creation"),
        incident("a4", "A", valence="co_creation"),
        incident("b1", "B", valence=CD, reasons=("R4.4",)),
        incident("b2", "B", valence="mixed"),
        incident("b3", "B", valence=CD),
    )
    result = recovery(frame, VCD)
    assert list(result.columns) == list(RECOVERY_COLUMNS)
    a = result.set_index("group").loc["A"]
    assert a["recovered"]
    assert a["recovered_item"] == "a4"
    assert a["recovered_index"] == 3
    assert a["steps_to_recovery"] == 2
    assert not a["relapsed"]
    assert a["provider_replied"] is None  # no role column: unknown, not False
    b = result.set_index("group").loc["B"]
    assert b["recovered_item"] == "b2"
    assert b["relapsed"]
    assert b["final_valence"] == CD


def test_groups_of_one_are_ignored() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, lost=("time",)),
        incident("b1", "B", valence=CD),
        incident("b2", "B", valence=CD, lost=("money",)),
    )
    result = detect_spirals(frame, VCD)
    assert result["group"].tolist() == ["B"]
    assert detect_spirals(frame, VCD, config=SpiralConfig(min_incidents=1))["group"].tolist() == ["A", "B"]


def test_provider_turns_inform_recovery_but_are_not_incidents() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, lost=("money",), role="customer", provider="Acme"),
        incident("a2", "A", valence=CD, lost=("time",), role="provider", provider="Acme"),
        incident("a3", "A", valence=CD, positive=("service_recovery",), role="provider", provider="Acme"),
        incident("a4", "A", valence="no_creation", role="customer", provider="Acme"),
        incident("b1", "B", valence=CD, role="customer"),
        incident("b2", "B", valence=CD, lost=("money",), role="provider"),
        incident("c1", "C", valence=CD, role="customer"),
        incident("c2", "C", valence="co_creation", role="customer"),
        incident("c3", "C", valence="co_creation", role="provider"),
        roles=True,
    )
    config = SpiralConfig(role_column="role")
    result = detect_spirals(frame, VCD, config=config).set_index("group")
    assert list(result.index) == ["A", "C"]  # B has one customer turn
    a = result.loc["A"]
    assert a["n_incidents"] == 2
    assert a["secondary_resources"] == ()  # the provider turn's "time" is not the customer's loss
    assert not a["is_spiral"]
    assert a["provider_replied"] and a["recovery_offered"]
    assert a["provider"] == "Acme"
    c = result.loc["C"]
    assert c["recovered"] and c["provider_replied"] and not c["recovery_offered"]


def test_config_is_checked_against_the_codebook() -> None:
    frame = frame_of(incident("a1", "A"), incident("a2", "A"))
    with pytest.raises(ValueError, match="no code"):
        detect_spirals(frame, VCD, config=SpiralConfig(escalation_ladder=("direct_complaint", "lawsuit")))
    with pytest.raises(ValueError, match="single-valued"):
        detect_spirals(frame, VCD, config=SpiralConfig(valence="coping"))
    with pytest.raises(KeyError, match="speaker"):
        detect_spirals(frame, VCD, config=SpiralConfig(role_column="speaker"))


def test_other_codebooks_can_rename_dimensions_and_drop_the_ones_they_lack() -> None:
    frame = frame_of(
        incident("a1", "A", valence=CD, coping=("direct_complaint",), lost=("time",)),
        incident("a2", "A", valence=CD, coping=("exit",), lost=("money",)),
    ).rename(columns={"valence": "outcome"})
    with pytest.raises(KeyError):
        detect_spirals(frame, VCD)
    bare = frame.rename(columns={"outcome": "valence"})
    config = SpiralConfig(resources_lost=None, reasons=None)
    row = detect_spirals(bare, VCD, config=config).iloc[0]
    assert row["secondary_resources"] == () and row["trigger_reasons"] == ()
    assert row["escalates"] and row["is_spiral"]


# ============================================================================================
# rates and summary


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # by hand: p = 2/3, z² = 3.8415, denominator 1 + z²/3 = 2.2805,
        # centre (0.6667 + 0.6402) / 2.2805 = 0.5731, half 1.96·sqrt(0.0741 + 0.1067) / 2.2805 = 0.3654
        (2, 3, 0.2077, 0.9385),
        # p = 0: centre = half = (z²/2) / (1 + z²) = 1.9207 / 4.8415 = 0.3967
        (0, 1, 0.0, 0.7935),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_hand_computation(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_edge_cases() -> None:
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_wilson_interval_agrees_with_statsmodels() -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for successes, n in [(1, 7), (13, 20), (108, 448)]:
        expected = proportion.proportion_confint(successes, n, alpha=0.05, method="wilson")
        assert wilson_interval(successes, n) == pytest.approx(expected, abs=1e-9)


def _results(rows: list[tuple[str | None, tuple[str, ...], bool, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "group": str(k),
                "provider": provider,
                "has_loss": has_loss,
                "trigger_reasons": tuple(f"{a}.1" for a in aggregates),
                "trigger_aggregates": aggregates,
                "recovered": recovered,
            }
            for k, (provider, aggregates, has_loss, recovered) in enumerate(rows)
        ]
    )


def test_recovery_rates_by_provider_and_reason() -> None:
    results = _results(
        [
            ("Acme", ("R4",), True, True),
            ("Acme", ("R4", "R3"), True, True),
            ("Acme", ("R3",), True, False),
            ("Bolt", (), True, False),
            ("Bolt", ("R4",), False, True),  # no loss: not counted anywhere
            (None, ("R1",), True, True),
        ]
    )
    by_provider = recovery_rates(results, by="provider")
    assert by_provider["provider"].tolist() == ["Acme", "(unknown)", "Bolt"]
    acme = by_provider.iloc[0]
    assert (acme["groups"], acme["recovered"]) == (3, 2)
    assert acme["rate"] == pytest.approx(2 / 3)
    assert (acme["ci_low"], acme["ci_high"]) == pytest.approx((0.2077, 0.9385), abs=1e-4)

    by_reason = recovery_rates(results, by="reason").set_index("reason")
    # R4: groups 0 and 1 (both recovered); R3: groups 1 and 2; group 3 has no reason.
    assert by_reason.loc["R4", ["groups", "recovered"]].tolist() == [2, 2]
    assert by_reason.loc["R3", ["groups", "recovered"]].tolist() == [2, 1]
    assert by_reason.loc[NO_REASON, ["groups", "recovered"]].tolist() == [1, 0]
    assert by_reason.loc["R1", "rate"] == 1.0
    themes = recovery_rates(results, by="reason", level="theme").set_index("reason")
    assert themes.loc["R4.1", "groups"] == 2
    with pytest.raises(ValueError):
        recovery_rates(results, by="segment")  # type: ignore[arg-type]


def test_spiral_summary_counts_shares_reasons_and_paths() -> None:
    frame = frame_of(
        # A: R4.4, escalates public -> exit, recovered later
        incident("a1", "A", valence=CD, reasons=("R4.4",), coping=("public_complaint",)),
        incident("a2", "A", valence=CD, reasons=("R4.4",), coping=("exit",)),
        incident("a3", "A", valence="co_creation"),
        # B: R3.2 with a new resource
        incident("b1", "B", valence=CD, reasons=("R3.2",), lost=("objects",), coping=("public_complaint",)),
        incident("b2", "B", valence=CD, reasons=("R3.2",), lost=("money",), coping=("public_complaint",)),
        # C: R3.2, primary loss only
        incident("c1", "C", valence=CD, reasons=("R3.2",), lost=("objects",)),
        incident("c2", "C", valence="no_creation"),
        # D: no loss
        incident("d1", "D", valence="no_creation"),
        incident("d2", "D", valence="co_creation"),
    )
    summary = spiral_summary(detect_spirals(frame, VCD))
    assert (summary.groups, summary.groups_with_loss, summary.spirals) == (4, 3, 2)
    assert summary.share == pytest.approx(0.5)
    assert summary.share_of_losses == pytest.approx(2 / 3)
    assert summary.share_of_losses_ci == pytest.approx(wilson_interval(2, 3))
    assert (summary.with_new_resources, summary.with_growing_losses, summary.escalating) == (1, 0, 1)
    assert (summary.recovered, summary.spirals_recovered) == (1, 1)
    assert summary.mean_spiral_length == pytest.approx(2.0)
    by_reason = summary.by_reason.set_index("reason")
    assert by_reason.loc["R3", ["loss_groups", "spirals"]].tolist() == [2, 1]
    assert by_reason.loc["R4", ["loss_groups", "spirals", "recovered"]].tolist() == [1, 1, 1]
    assert summary.escalation_paths == [(("public_complaint", "exit"), 1)]
    assert summary.secondary_resources == [("money", 1)]
    as_dict = summary.as_dict()
    assert as_dict["spirals"] == 2 and as_dict["escalation_paths"] == [[["public_complaint", "exit"], 1]]


def test_empty_inputs_give_empty_tables() -> None:
    frame = frame_of(incident("a1", "A"))
    result = detect_spirals(frame, VCD)
    assert result.empty and list(result.columns) == list(SPIRAL_COLUMNS)
    assert recovery_rates(result, by="provider").empty
    summary = spiral_summary(result)
    assert summary.groups == 0 and math.isnan(summary.share)


# ============================================================================================
# real support threads


def _script():
    spec = importlib.util.spec_from_file_location(
        "spirals_support_threads", REPO / "scripts" / "spirals_support_threads.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real() -> dict[str, Any]:
    if not TWCS.exists():
        pytest.skip(f"real data not available at {TWCS}")
    script = _script()
    tweets = script.read_tweets(TWCS)
    incidents = script.thread_incidents(tweets)
    threads = list(dict.fromkeys(i.thread_id for i in incidents))[:400]  # the first 400 threads keep it quick
    incidents = [i for i in incidents if i.thread_id in set(threads)]
    codebook, rows = script.code_incidents(incidents)
    frame = script.support_frame(incidents, rows, codebook)
    spirals = detect_spirals(frame, codebook, config=script.CONFIG)
    return {"script": script, "tweets": tweets, "frame": frame, "spirals": spirals, "codebook": codebook}


def test_real_threads_are_rebuilt_consistently(real: dict[str, Any]) -> None:
    frame, tweets = real["frame"], real["tweets"]
    thread_of = dict(zip(frame["item_id"], frame["thread_id"], strict=True))
    parents = dict(zip(tweets["tweet_id"], tweets["parent"], strict=True))
    for item, thread in thread_of.items():
        parent = parents[item]
        if parent in thread_of:  # a reply sits in its parent's thread
            assert thread_of[parent] == thread
    for _, rows in frame.groupby("thread_id"):
        assert sorted(rows["thread_position"].tolist()) == list(range(1, len(rows) + 1))
        assert rows.sort_values("thread_position")["occurred_at"].is_monotonic_increasing
        assert rows["customer_id"].nunique() <= 1
    assert set(frame["role"]) <= {"customer", "provider", "other"}
    brand = frame[frame["role"] == "provider"]
    assert (brand["author_id"] == brand["provider"]).mean() > 0.95  # the answering account is the provider


def test_real_threads_spiral_table_obeys_its_definitions(real: dict[str, Any]) -> None:
    frame, spirals = real["frame"], real["spirals"]
    customer = frame[frame["role"] == "customer"]
    turns = customer.groupby("thread_id").size()
    assert set(spirals["group"]) == set(turns[turns >= 2].index)
    assert len(spirals) > 50 and spirals["is_spiral"].any() and spirals["recovered"].any()
    ladder = {code: rank for rank, code in enumerate(real["script"].CONFIG.escalation_ladder)}
    for row in spirals.itertuples(index=False):
        assert row.n_incidents == turns[row.group]
        seq = customer[customer["thread_id"] == row.group].sort_values(["occurred_at", "thread_position"])
        losses = seq[seq["valence"] == "co_destruction"]
        assert row.has_loss == (len(losses) > 0)
        if not row.has_loss:
            assert not row.is_spiral and not row.recovered
            continue
        assert row.primary_item == losses["item_id"].iloc[0]
        assert row.primary_resources == tuple(
            c for c in real["codebook"].code_ids("resources_lost") if c in set(losses["resources_lost"].iloc[0])
        )
        assert not set(row.secondary_resources) & set(row.primary_resources)
        assert row.is_spiral == bool(row.secondary_resources or row.losses_grow or row.escalates)
        ranks = [ladder[c] for c in row.escalation_path]
        assert ranks == sorted(set(ranks))
        if row.is_spiral:
            assert 2 <= row.spiral_length <= row.n_incidents - row.primary_index
            assert set(row.spiral_items) <= set(seq["item_id"])
        if row.recovered:
            assert row.recovered_index > row.primary_index
            assert seq["valence"].iloc[row.recovered_index] in ("co_creation", "mixed")
        else:
            assert row.recovered_item is None and row.recovered_index is pd.NA
        assert row.provider_replied is not None


def test_real_threads_rates_are_consistent_and_deterministic(real: dict[str, Any]) -> None:
    spirals = real["spirals"]
    by_provider = recovery_rates(spirals, by="provider")
    assert by_provider["groups"].sum() == int(spirals["has_loss"].sum())
    assert ((by_provider["ci_low"] <= by_provider["rate"]) & (by_provider["rate"] <= by_provider["ci_high"])).all()
    by_reason = recovery_rates(spirals, by="reason")
    assert by_reason["groups"].sum() >= int(spirals["has_loss"].sum())  # multi-reason groups count once per reason
    summary = spiral_summary(spirals)
    assert summary.spirals == int(spirals["is_spiral"].sum())
    assert 0 < summary.share_of_losses < 1
    again = detect_spirals(real["frame"], real["codebook"], config=real["script"].CONFIG)
    pd.testing.assert_frame_equal(spirals, again)
