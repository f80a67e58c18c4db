"""Loss spirals and service recovery over sequences of coded incidents.

Why sequences: one incident shows a loss; only the incidents that follow it in the same thread
or relationship show whether the loss *spread* (conservation-of-resources theory: a primary
loss leaves people with fewer resources to cope, so further losses follow, Hobfoll 1989; Smith
2013 traces this for value co-destruction) or whether the provider *recovered* it.

Everything here reads the analysis frame of :mod:`covalue.analysis.frame` and is a pure,
deterministic function of it. The dimension names and code lists are a :class:`SpiralConfig`
whose defaults are the bundled ``vcd`` codebook's, so another codebook with a valence-like
dimension, a resources dimension and a coping dimension can use the same detector.

Definitions (documented for users in ``docs/spirals.md``):

- **sequence**: the incidents of one group (``thread_id`` or ``customer_id``) in time order:
  ``occurred_at``, then ``thread_position``, then the frame's own row order. When any incident
  of a group has no timestamp, timestamps cannot order the group, so ``thread_position`` (then
  row order) does.
- **primary loss**: the first incident of the sequence whose valence is one of
  ``primary_valences`` (``co_destruction``). Its reasons are the *triggering reasons*, its
  ``resources_lost`` the *primary resources*.
- **secondary loss**: a later incident whose valence is one of ``loss_valences``
  (``co_destruction`` or ``mixed``) and that either names a resource not lost so far (a *new
  resource*) or names more resources than any loss incident since the primary one (*growing
  losses*).
- **escalation**: each incident's coping is placed on ``escalation_ladder`` (direct complaint <
  public complaint < third-party complaint < exit) by its highest rung; the sequence escalates
  when a later incident reaches a rung above the highest rung reached before it, and some rung
  had already been reached. Starting to cope is not escalating; climbing is.
- **loss spiral**: a primary loss followed by at least one secondary loss or escalation.
  Its length counts the incidents from the primary loss to the last secondary loss or
  escalation step, both included.
- **recovery**: after the primary loss, an incident whose valence is in ``recovery_valences``
  (``co_creation`` or ``mixed``). *Relapse*: a primary-valence incident after that recovery.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from covalue.framework.codebook import Codebook

GroupBy = Literal["thread_id", "customer_id"]
#: z of a two-sided 95% interval.
Z95 = 1.959963984540054
#: Key used by :func:`recovery_rates` and :func:`spiral_summary` for loss groups without a coded reason.
NO_REASON = "(no reason coded)"
_ORDER = "__spiral_order"
_GROUP = "__spiral_group"
_TIME = "__spiral_time"


@dataclass(frozen=True)
class SpiralConfig:
    """Which dimensions and codes the detector reads; the defaults are the ``vcd`` codebook's.

    ``reasons``, ``coping``, ``resources_lost`` and ``recovery_factors_dimension`` may be None
    for a codebook without such a dimension; the analyses that need them then find nothing.
    ``role_column`` names a frame column telling whose turn a row is (say ``customer`` or
    ``provider`` in a support thread): only rows whose role is in ``analysed_roles`` are
    incidents of a sequence; the other rows only say whether the provider replied or offered
    recovery after the primary loss. Without it every row is an incident.
    """

    valence: str = "valence"
    reasons: str | None = "reasons"
    coping: str | None = "coping"
    resources_lost: str | None = "resources_lost"
    recovery_factors_dimension: str | None = "positive_factors"
    primary_valences: tuple[str, ...] = ("co_destruction",)
    loss_valences: tuple[str, ...] = ("co_destruction", "mixed")
    recovery_valences: tuple[str, ...] = ("co_creation", "mixed")
    escalation_ladder: tuple[str, ...] = ("direct_complaint", "public_complaint", "third_party_complaint", "exit")
    recovery_factors: tuple[str, ...] = ("service_recovery",)
    reason_level: str = "aggregate"
    role_column: str | None = None
    analysed_roles: tuple[str, ...] = ("customer",)
    min_incidents: int = 2

    def validate(self, codebook: Codebook) -> None:
        """Fail early, naming the setting, when a dimension or code is not in ``codebook``."""
        if self.min_incidents < 1:
            raise ValueError(f"min_incidents must be at least 1, got {self.min_incidents}")
        checks: list[tuple[str, str | None, tuple[str, ...], bool]] = [
            ("valence", self.valence, (*self.primary_valences, *self.loss_valences, *self.recovery_valences), False),
            ("reasons", self.reasons, (), True),
            ("coping", self.coping, self.escalation_ladder, True),
            ("resources_lost", self.resources_lost, (), True),
            ("recovery_factors_dimension", self.recovery_factors_dimension, self.recovery_factors, True),
        ]
        for setting, dimension, codes, multi in checks:
            if dimension is None:
                continue
            codebook.dimension(dimension)  # raises KeyError naming the dimensions it has
            if codebook.is_multi(dimension) != multi:
                kind = "multi-valued" if multi else "single-valued"
                raise ValueError(f"{setting}: dimension {dimension!r} of {codebook.key} is not {kind}")
            unknown = [c for c in codes if not codebook.has_code(dimension, c)]
            if unknown:
                raise ValueError(f"{setting}: {dimension!r} of {codebook.key} has no code {', '.join(unknown)}")
        if not self.primary_valences:
            raise ValueError("primary_valences is empty: no incident could start a loss sequence")


VCD = SpiralConfig()

#: Columns of :func:`detect_spirals`, in order.
SPIRAL_COLUMNS = (
    "group",
    "provider",
    "n_incidents",
    "first_item",
    "last_item",
    "has_loss",
    "primary_item",
    "primary_index",
    "trigger_reasons",
    "trigger_aggregates",
    "primary_resources",
    "secondary_resources",
    "losses_grow",
    "max_resources",
    "coping_path",
    "escalation_path",
    "escalates",
    "is_spiral",
    "spiral_length",
    "spiral_items",
    "recovered",
    "recovered_item",
    "recovered_index",
    "steps_to_recovery",
    "relapsed",
    "final_valence",
    "provider_replied",
    "recovery_offered",
)
#: Columns of :func:`recovery`, in order.
RECOVERY_COLUMNS = (
    "group",
    "provider",
    "n_incidents",
    "has_loss",
    "primary_item",
    "primary_index",
    "trigger_reasons",
    "trigger_aggregates",
    "recovered",
    "recovered_item",
    "recovered_index",
    "steps_to_recovery",
    "relapsed",
    "final_valence",
    "provider_replied",
    "recovery_offered",
)
RATE_COLUMNS = ("groups", "recovered", "rate", "ci_low", "ci_high")
#: Integer columns that are missing (``pd.NA``) when a group has no loss or no recovery.
_INDEX_COLUMNS = ("primary_index", "recovered_index", "steps_to_recovery")
#: Text columns that are None when missing.
_TEXT_COLUMNS = ("provider", "first_item", "last_item", "primary_item", "recovered_item", "final_valence")


#: Group keys in the order they are preferred: threads say more than customers when they repeat.
GROUP_KEYS: tuple[GroupBy, ...] = ("thread_id", "customer_id")


def default_group_key(frame: pd.DataFrame) -> GroupBy | None:
    """Thread when any thread has two incidents, else customer; None when neither repeats.

    The report and the web dashboards both group by this rule, so they show the same spirals.
    """
    for key in GROUP_KEYS:
        if len(frame) and (frame[key].dropna().value_counts() >= 2).any():
            return key
    return None


def config_for(frame: pd.DataFrame, base: SpiralConfig = VCD) -> SpiralConfig:
    """``base`` analysing customer turns only when the frame knows who spoke (support threads)."""
    has_roles = "role" in frame.columns and len(frame) > 0 and bool(frame["role"].notna().any())
    return replace(base, role_column="role") if has_roles else base


# ============================================================================================
# sequences


def sequences(
    frame: pd.DataFrame, by: GroupBy | str = "thread_id", *, min_rows: int = 1
) -> dict[Hashable, pd.DataFrame]:
    """The incidents of each group in time order, keyed by group, groups in order of first row.

    Rows without a group key belong to no sequence and are left out, and so are groups with
    fewer than ``min_rows`` rows. Order within a group: ``occurred_at``, then
    ``thread_position``, then the frame's row order (so ties and equal timestamps are settled
    the same way on every run). A group in which any incident lacks a timestamp is ordered by
    ``thread_position`` then row order instead, because putting the undated incidents first or
    last would invent an order the data does not give. The sub-frames keep the frame's index
    labels, so a row can be traced back.

    The frame is sorted once for all groups (a per-group sort costs more than the analysis on
    corpora with many short groups).
    """
    if by not in frame.columns:
        raise KeyError(f"the frame has no column {by!r} to group by")
    work = frame.assign(**{_ORDER: np.arange(len(frame))})
    work = work[work[by].notna()]
    if min_rows > 1 and not work.empty:
        work = work[work.groupby(by, sort=False)[by].transform("size") >= min_rows]
    if work.empty:
        return {}
    keys = [_GROUP]
    columns: dict[str, Any] = {_GROUP: work.groupby(by, sort=False).ngroup()}
    if "occurred_at" in work.columns:
        timed = work["occurred_at"].notna().groupby(work[by], sort=False).transform("all")
        instants = pd.to_datetime(work["occurred_at"], utc=True).to_numpy(dtype="datetime64[ns]").view("int64")
        columns[_TIME] = np.where(timed.to_numpy(), instants, 0)  # undated groups: one constant, no order
        keys.append(_TIME)
    if "thread_position" in work.columns:
        keys.append("thread_position")
    ordered = work.assign(**columns).sort_values([*keys, _ORDER], na_position="last", kind="mergesort")
    ordered = ordered.drop(columns=[_ORDER, _GROUP, *([_TIME] if _TIME in columns else [])])
    return {key: rows for key, rows in ordered.groupby(by, sort=False)}


# ============================================================================================
# detection


def detect_spirals(
    frame: pd.DataFrame,
    codebook: Codebook,
    by: GroupBy | str = "thread_id",
    config: SpiralConfig = VCD,
) -> pd.DataFrame:
    """One row per group with at least ``config.min_incidents`` incidents: its loss sequence.

    Columns (see :data:`SPIRAL_COLUMNS`): ``group`` key, ``provider`` (the group's most
    frequent provider), ``n_incidents``, ``first_item``/``last_item``; ``has_loss``,
    ``primary_item`` and ``primary_index`` (0-based place of the primary loss in the sequence);
    ``trigger_reasons`` (themes) and ``trigger_aggregates`` (rolled up to
    ``config.reason_level``); ``primary_resources``; ``secondary_resources`` (resources newly
    lost after the primary loss, in order of appearance); ``losses_grow``; ``max_resources``
    (most resources named by one loss incident); ``coping_path`` (coping codes from the primary
    loss on, in order of first appearance); ``escalation_path`` (ladder rungs in the order they
    were climbed); ``escalates``; ``is_spiral``; ``spiral_length``; ``spiral_items`` (incidents
    that added a secondary loss or an escalation step); ``recovered``, ``recovered_item``,
    ``recovered_index``, ``steps_to_recovery``, ``relapsed``, ``final_valence``;
    ``provider_replied`` and ``recovery_offered`` (None unless ``config.role_column`` is set).
    Tuple columns are ordered as the codebook lists the codes where order is not temporal.
    """
    config.validate(codebook)
    _check_columns(frame, config)
    groups = sequences(frame, by, min_rows=config.min_incidents)
    records = [_analyse(key, rows, codebook, config) for key, rows in groups.items()]
    kept = [r for r in records if r is not None]
    table = pd.DataFrame.from_records(kept, columns=list(SPIRAL_COLUMNS))
    for column in _INDEX_COLUMNS:
        table[column] = table[column].astype("Int64")
    for column in _TEXT_COLUMNS:  # object columns with None, whatever string dtype pandas would infer
        table[column] = pd.Series([v if isinstance(v, str) else None for v in table[column]], dtype=object)
    return table


def recovery(
    frame: pd.DataFrame,
    codebook: Codebook,
    by: GroupBy | str = "thread_id",
    config: SpiralConfig = VCD,
) -> pd.DataFrame:
    """Per group: was a co-destruction followed, later in the sequence, by co-creation or mixed?

    The same groups and definitions as :func:`detect_spirals` (``recovered`` is False for a
    group without a primary loss; ``has_loss`` tells them apart), restricted to the recovery
    columns (:data:`RECOVERY_COLUMNS`). ``steps_to_recovery`` counts incidents from the
    primary loss to the recovering one.
    """
    return detect_spirals(frame, codebook, by, config).loc[:, list(RECOVERY_COLUMNS)]


def _check_columns(frame: pd.DataFrame, config: SpiralConfig) -> None:
    if config.valence not in frame.columns:
        raise KeyError(f"the frame has no {config.valence!r} column; is it coded with the right codebook?")
    if config.role_column is not None and config.role_column not in frame.columns:
        raise KeyError(f"the frame has no role column {config.role_column!r}")


def _codes(value: Any) -> tuple[str, ...]:
    """A multi-valued cell as a tuple; tolerates lists, arrays, a bare string and missing values."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, float) and math.isnan(value):
        return ()
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return (str(value),)


def _single(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _column(rows: pd.DataFrame, name: str | None) -> list[tuple[str, ...]]:
    if name is None or name not in rows.columns:
        return [() for _ in range(len(rows))]
    return [_codes(v) for v in rows[name].tolist()]


def _by_codebook(codes: Iterable[str], codebook: Codebook, dimension: str | None) -> tuple[str, ...]:
    """Distinct codes in the codebook's order (unknown codes last, alphabetically), for stable output."""
    unique = set(codes)
    if dimension is None:
        return tuple(sorted(unique))
    order = {c: k for k, c in enumerate(codebook.code_ids(dimension, codable_only=False))}
    return tuple(sorted(unique, key=lambda c: (order.get(c, len(order)), c)))


def _aggregates(themes: Sequence[str], codebook: Codebook, config: SpiralConfig) -> tuple[str, ...]:
    rolled: list[str] = []
    for theme in themes:
        up = codebook.roll_up(config.reasons, theme, config.reason_level) if config.reasons else None
        up = up or theme
        if up not in rolled:
            rolled.append(up)
    return tuple(rolled)


def _provider(rows: pd.DataFrame) -> str | None:
    """The group's most frequent provider; a tie goes to the one seen first in the sequence."""
    if "provider" not in rows.columns:
        return None
    values = [p for p in (_single(v) for v in rows["provider"].tolist()) if p is not None]
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    return next(p for p in values if counts[p] == best)


def _analyse(key: Hashable, rows: pd.DataFrame, codebook: Codebook, config: SpiralConfig) -> dict[str, Any] | None:
    if config.role_column is not None:
        is_incident = rows[config.role_column].isin(config.analysed_roles).to_numpy()
    else:
        is_incident = np.ones(len(rows), dtype=bool)
    incidents = rows[is_incident]
    n = len(incidents)
    if n < config.min_incidents:
        return None
    labels = incidents["item_id"] if "item_id" in incidents.columns else incidents.index.to_series()
    items = [str(v) for v in labels.tolist()]
    valences = [_single(v) for v in incidents[config.valence].tolist()]
    reasons = _column(incidents, config.reasons)
    resources = _column(incidents, config.resources_lost)
    coping = _column(incidents, config.coping)

    record: dict[str, Any] = {
        "group": key,
        "provider": _provider(rows),
        "n_incidents": n,
        "first_item": items[0],
        "last_item": items[-1],
        "has_loss": False,
        "primary_item": None,
        "primary_index": None,
        "trigger_reasons": (),
        "trigger_aggregates": (),
        "primary_resources": (),
        "secondary_resources": (),
        "losses_grow": False,
        "max_resources": 0,
        "coping_path": (),
        "escalation_path": (),
        "escalates": False,
        "is_spiral": False,
        "spiral_length": 0,
        "spiral_items": (),
        "recovered": False,
        "recovered_item": None,
        "recovered_index": None,
        "steps_to_recovery": None,
        "relapsed": False,
        "final_valence": valences[-1],
        "provider_replied": None,
        "recovery_offered": None,
    }
    primary = next((k for k, v in enumerate(valences) if v in config.primary_valences), None)
    if primary is None:
        if config.role_column is not None:
            record["provider_replied"] = False
            record["recovery_offered"] = False
        return record

    themes = _by_codebook(reasons[primary], codebook, config.reasons)
    primary_resources = _by_codebook(resources[primary], codebook, config.resources_lost)
    record.update(
        has_loss=True,
        primary_item=items[primary],
        primary_index=primary,
        trigger_reasons=themes,
        trigger_aggregates=_aggregates(themes, codebook, config),
        primary_resources=primary_resources,
        max_resources=len(primary_resources),
    )

    ladder = {code: rank for rank, code in enumerate(config.escalation_ladder)}
    lost = set(primary_resources)
    most = len(primary_resources)
    secondary: list[str] = []
    grows = False
    top_rank = -1
    climbed: list[str] = []
    coping_path: list[str] = []
    steps: list[int] = []
    recovered_at: int | None = None
    relapsed = False
    for k in range(primary, n):
        step = False
        if k > primary and valences[k] in config.loss_valences:
            named = _by_codebook(resources[k], codebook, config.resources_lost)
            new = [r for r in named if r not in lost]
            if new:
                secondary.extend(new)
                lost.update(new)
                step = True
            if len(named) > most:
                grows = True
                most = len(named)
                step = True
        for code in _by_codebook(coping[k], codebook, config.coping):
            if code not in coping_path:
                coping_path.append(code)
        ranks = [ladder[c] for c in coping[k] if c in ladder]
        rank = max(ranks, default=-1)
        if rank > top_rank:
            if top_rank >= 0:
                step = True
            top_rank = rank
            climbed.append(config.escalation_ladder[rank])
        if step:
            steps.append(k)
        if k > primary and recovered_at is None and valences[k] in config.recovery_valences:
            recovered_at = k
        elif recovered_at is not None and k > recovered_at and valences[k] in config.primary_valences:
            relapsed = True

    escalates = len(climbed) >= 2
    is_spiral = bool(steps)
    record.update(
        secondary_resources=tuple(secondary),
        losses_grow=grows,
        max_resources=most,
        coping_path=tuple(coping_path),
        escalation_path=tuple(climbed),
        escalates=escalates,
        is_spiral=is_spiral,
        spiral_length=(steps[-1] - primary + 1) if is_spiral else 0,
        spiral_items=tuple(items[k] for k in steps),
        recovered=recovered_at is not None,
        recovered_item=items[recovered_at] if recovered_at is not None else None,
        recovered_index=recovered_at,
        steps_to_recovery=(recovered_at - primary) if recovered_at is not None else None,
        relapsed=relapsed,
    )
    if config.role_column is not None:
        record.update(_provider_turns(rows, is_incident, int(np.flatnonzero(is_incident)[primary]), config))
    return record


def _provider_turns(
    rows: pd.DataFrame, is_incident: np.ndarray, position: int, config: SpiralConfig
) -> dict[str, bool]:
    """Did a non-analysed (provider) turn follow the primary loss (at ``position``), and did one offer recovery?"""
    later = rows.iloc[position + 1 :][~is_incident[position + 1 :]]
    offered = False
    if config.recovery_factors_dimension is not None and config.recovery_factors_dimension in later.columns:
        wanted = set(config.recovery_factors)
        offered = any(wanted & set(_codes(v)) for v in later[config.recovery_factors_dimension].tolist())
    return {"provider_replied": not later.empty, "recovery_offered": offered}


# ============================================================================================
# rates and summary


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (nan, nan) when ``n`` is 0.

    Wilson rather than the normal approximation because many groups (a provider, a reason)
    have few threads and rates near 0 or 1, where the normal interval leaves [0, 1].
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At p = 0 or 1 a bound is exactly 0 or 1; rounding would otherwise leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _rate_row(successes: int, n: int, z: float) -> dict[str, Any]:
    low, high = wilson_interval(successes, n, z)
    return {
        "groups": n,
        "recovered": successes,
        "rate": successes / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def _reason_keys(results: pd.DataFrame, level: Literal["aggregate", "theme"]) -> pd.Series:
    column = "trigger_aggregates" if level == "aggregate" else "trigger_reasons"
    if column not in results.columns:
        raise KeyError(f"the results have no {column!r} column; pass the output of detect_spirals or recovery")
    return results[column].map(lambda codes: _codes(codes) or (NO_REASON,))


def recovery_rates(
    results: pd.DataFrame,
    by: Literal["reason", "provider"] = "reason",
    *,
    level: Literal["aggregate", "theme"] = "aggregate",
    z: float = Z95,
) -> pd.DataFrame:
    """Recovery rate of the groups with a primary loss, per triggering reason or per provider.

    ``results`` is the output of :func:`recovery` or :func:`detect_spirals`. Columns: the key
    (``reason`` or ``provider``), ``groups`` (groups with a loss), ``recovered``, ``rate`` and
    the Wilson interval ``ci_low``/``ci_high``. A group triggered by two reasons counts under
    each; one without a coded reason under :data:`NO_REASON`; one without a provider under
    ``"(unknown)"``. Rows go from most to fewest groups, then by key.
    """
    if by not in ("reason", "provider"):
        raise ValueError(f"by must be 'reason' or 'provider', got {by!r}")
    losses = results[results["has_loss"].astype(bool)] if len(results) else results
    if by == "reason":
        keys = _reason_keys(losses, level) if len(losses) else pd.Series(dtype=object)
        pairs = [(key, bool(r)) for codes, r in zip(keys, losses["recovered"], strict=True) for key in codes]
    else:
        pairs = [
            (_single(p) or "(unknown)", bool(r)) for p, r in zip(losses["provider"], losses["recovered"], strict=True)
        ]
    totals: Counter[str] = Counter(key for key, _ in pairs)
    hits: Counter[str] = Counter(key for key, ok in pairs if ok)
    rows = [{by: key, **_rate_row(hits[key], totals[key], z)} for key in totals]
    table = pd.DataFrame.from_records(rows, columns=[by, *RATE_COLUMNS])
    if table.empty:
        return table
    return table.sort_values(["groups", by], ascending=[False, True], kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True)
class SpiralSummary:
    """The numbers a report on loss spirals needs, from one :func:`detect_spirals` result.

    Shares: ``share`` is spirals among all groups analysed; ``share_of_losses`` (with its
    Wilson interval) is spirals among groups that had a primary loss, the figure to compare
    across data sets, since a thread without a loss cannot spiral.
    """

    groups: int
    groups_with_loss: int
    spirals: int
    share: float
    share_of_losses: float
    share_of_losses_ci: tuple[float, float]
    with_new_resources: int
    with_growing_losses: int
    escalating: int
    recovered: int
    recovery_rate: float
    recovery_ci: tuple[float, float]
    spirals_recovered: int
    mean_spiral_length: float
    by_reason: pd.DataFrame = field(repr=False)
    escalation_paths: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    coping_paths: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    secondary_resources: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain types only (for JSON or a template)."""
        return {
            "groups": self.groups,
            "groups_with_loss": self.groups_with_loss,
            "spirals": self.spirals,
            "share": self.share,
            "share_of_losses": self.share_of_losses,
            "share_of_losses_ci": list(self.share_of_losses_ci),
            "with_new_resources": self.with_new_resources,
            "with_growing_losses": self.with_growing_losses,
            "escalating": self.escalating,
            "recovered": self.recovered,
            "recovery_rate": self.recovery_rate,
            "recovery_ci": list(self.recovery_ci),
            "spirals_recovered": self.spirals_recovered,
            "mean_spiral_length": self.mean_spiral_length,
            "by_reason": self.by_reason.to_dict(orient="records"),
            "escalation_paths": [[list(path), count] for path, count in self.escalation_paths],
            "coping_paths": [[list(path), count] for path, count in self.coping_paths],
            "secondary_resources": [[code, count] for code, count in self.secondary_resources],
        }


def spiral_summary(
    spirals: pd.DataFrame,
    *,
    level: Literal["aggregate", "theme"] = "aggregate",
    top: int = 5,
    z: float = Z95,
) -> SpiralSummary:
    """Counts, shares and typical paths of a :func:`detect_spirals` result.

    ``by_reason`` has one row per triggering reason (at ``level``): ``loss_groups`` (groups
    whose primary loss it triggered), ``spirals``, ``share`` of those that spiralled with its
    Wilson interval, and ``recovered``. A group with two triggering reasons counts under each,
    so the rows do not add up to the totals. ``escalation_paths`` and ``coping_paths`` are the
    ``top`` most frequent paths among spirals (escalating spirals for the former), ties broken
    alphabetically; ``secondary_resources`` counts the resources newly lost in spirals.
    """
    n = len(spirals)
    losses = spirals[spirals["has_loss"].astype(bool)] if n else spirals
    spiralled = spirals[spirals["is_spiral"].astype(bool)] if n else spirals
    n_loss = len(losses)
    n_spiral = len(spiralled)
    n_recovered = int(losses["recovered"].astype(bool).sum()) if n_loss else 0

    by_reason_rows: list[dict[str, Any]] = []
    if n_loss:
        keys = _reason_keys(losses, level)
        totals: Counter[str] = Counter()
        spiral_hits: Counter[str] = Counter()
        recovered_hits: Counter[str] = Counter()
        for codes, is_spiral, was_recovered in zip(keys, losses["is_spiral"], losses["recovered"], strict=True):
            for key in codes:
                totals[key] += 1
                spiral_hits[key] += bool(is_spiral)
                recovered_hits[key] += bool(was_recovered)
        for key in totals:
            low, high = wilson_interval(spiral_hits[key], totals[key], z)
            by_reason_rows.append(
                {
                    "reason": key,
                    "loss_groups": totals[key],
                    "spirals": spiral_hits[key],
                    "share": spiral_hits[key] / totals[key],
                    "ci_low": low,
                    "ci_high": high,
                    "recovered": recovered_hits[key],
                }
            )
    by_reason = pd.DataFrame.from_records(
        by_reason_rows, columns=["reason", "loss_groups", "spirals", "share", "ci_low", "ci_high", "recovered"]
    )
    if not by_reason.empty:
        by_reason = by_reason.sort_values(
            ["spirals", "loss_groups", "reason"], ascending=[False, False, True], kind="mergesort"
        ).reset_index(drop=True)

    escalating = spiralled[spiralled["escalates"].astype(bool)] if n_spiral else spiralled
    secondary: Counter[str] = Counter(code for codes in spiralled.get("secondary_resources", []) for code in codes)
    return SpiralSummary(
        groups=n,
        groups_with_loss=n_loss,
        spirals=n_spiral,
        share=n_spiral / n if n else math.nan,
        share_of_losses=n_spiral / n_loss if n_loss else math.nan,
        share_of_losses_ci=wilson_interval(n_spiral, n_loss, z),
        with_new_resources=int(sum(1 for codes in spiralled.get("secondary_resources", []) if codes)),
        with_growing_losses=int(spiralled["losses_grow"].astype(bool).sum()) if n_spiral else 0,
        escalating=len(escalating),
        recovered=n_recovered,
        recovery_rate=n_recovered / n_loss if n_loss else math.nan,
        recovery_ci=wilson_interval(n_recovered, n_loss, z),
        spirals_recovered=int(spiralled["recovered"].astype(bool).sum()) if n_spiral else 0,
        mean_spiral_length=float(spiralled["spiral_length"].mean()) if n_spiral else math.nan,
        by_reason=by_reason,
        escalation_paths=_top(escalating.get("escalation_path", []), top),
        coping_paths=_top(spiralled.get("coping_path", []), top),
        secondary_resources=sorted(secondary.items(), key=lambda kv: (-kv[1], kv[0])),
    )


def _top(paths: Iterable[Any], top: int) -> list[tuple[tuple[str, ...], int]]:
    counts: Counter[tuple[str, ...]] = Counter(_codes(p) for p in paths)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
