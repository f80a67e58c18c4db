"""Framework views: the tables a service researcher or manager reads off a coded corpus.

Every view takes the analysis frame of :mod:`covalue.analysis.frame` (one coded incident a row)
and returns a plain pandas DataFrame, so that the HTML report, the XLSX export, the web workbench
and a notebook all show the same numbers. The views are pure functions with a deterministic
order: codes in codebook order (a reader compares tables across runs and projects by position),
everything else sorted by its key, and missing keys last as ``"(unknown)"``.

Counting rules shared by all views:

- a count is a number of *incidents*, never of codings: an incident coded with two themes of one
  aggregate dimension counts once for that aggregate (the Gioia "aggregate is not the sum" rule);
- a share is a count divided by the incidents of the group it belongs to (a source, a period, a
  reason), so shares of a multi-valued dimension may add up to more than 1;
- ``level`` rolls codes up the codebook hierarchy (``"aggregate"`` turns R4.2 into R4); a code
  coded above the requested level has no representative at that level and is not counted there.

Dimension names are parameters with the vcd codebook's names as defaults, so the views also serve
other bundled codebooks (``collective-consumption``, ``cit-service-encounter``) and user codebooks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from covalue.analysis.frame import EVIDENCE_COLUMN, META_COLUMNS
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook

#: Label of a missing grouping value (no segment, no date, no customer id).
UNKNOWN = "(unknown)"
#: Pseudo-code of incidents that have no code in a dimension, so shares of a group add up.
NO_CODE = "(none)"
NO_CODE_NAME = "no code"
#: Metadata columns ``breakdown`` groups by; ``period`` buckets ``occurred_at``.
BREAKDOWN_KEYS = ("source", "channel", "segment", "relationship_type", "provider", "period")
#: Relationship types of Järvi et al. (2018), always shown in Table 3 even when absent from the data.
RELATIONSHIP_TYPES = ("B2C", "B2B", "B2G", "G2C")
#: Valence codes whose incidents make up the co-destruction base of Table 3.
NEGATIVE_VALENCE = ("co_destruction", "mixed")
#: Column-name prefixes of the observed-phase and relationship-type blocks of Table 3.
PHASE_PREFIX = "phase_"
RELATIONSHIP_PREFIX = "rel_"
#: Values of ``concept_source`` in the Gioia table.
CUE_SOURCE = "codebook_cue"
FIRST_ORDER_SOURCE = "first_order_code"
#: What the timeline shows by default (those of the vcd codebook that the frame has).
TIMELINE_DIMENSIONS = ("valence", "reasons", "coping", "resources_lost")

Measure = Literal["count", "lift", "jaccard"]
_NOT_DIMENSIONS = frozenset({*META_COLUMNS, "text", EVIDENCE_COLUMN})


# -- shared building blocks -------------------------------------------------------------------


def code_names(codebook: Codebook, dimension: str) -> dict[str, str]:
    """``{code id: name}`` of a dimension, with the ``(none)`` pseudo-code, for labelling tables."""
    names = {c.id: c.code.name for c in codebook.codes(dimension)}
    names[NO_CODE] = NO_CODE_NAME
    return names


def _check_level(codebook: Codebook, dimension: str, level: str | None) -> None:
    if level is not None and level not in codebook.levels(dimension):
        levels = ", ".join(codebook.levels(dimension))
        raise ValueError(f"dimension {dimension!r} has no codes at level {level!r} (its levels: {levels})")


def _code_order(codebook: Codebook, dimension: str, level: str | None) -> list[str]:
    """Codes a view lists: the codable codes, or every code at ``level``, in codebook order."""
    if level is None:
        return codebook.code_ids(dimension, codable_only=True)
    return [c.id for c in codebook.codes(dimension) if c.code.level == level]


def _with_extras(order: list[str], observed: Iterable[str]) -> list[str]:
    """Codebook order, then codes the data has but the codebook lacks (sorted), so none is lost."""
    known = set(order)
    return order + sorted({c for c in observed if c not in known})


def _code_pairs(frame: pd.DataFrame, codebook: Codebook, dimension: str, level: str | None = None) -> pd.DataFrame:
    """One ``(row, code)`` pair per incident and code, rolled up to ``level`` and deduplicated.

    ``row`` is the incident's position in ``frame``. This long form is what every count is
    taken from: deduplicating after the roll-up is what makes an aggregate count incidents
    rather than the sum of its themes.
    """
    _check_level(codebook, dimension, level)
    values = frame[dimension].reset_index(drop=True)
    if codebook.is_multi(dimension):
        values = values.explode()
    values = values.dropna()
    values = values[values.astype(str) != ""]
    pairs = pd.DataFrame({"row": values.index.to_numpy(dtype=np.int64), "code": values.astype(str).to_numpy()})
    if level is not None:
        mapping = {c.id: codebook.roll_up(dimension, c.id, level) for c in codebook.codes(dimension)}
        pairs["code"] = pairs["code"].map(mapping)
        pairs = pairs.dropna(subset=["code"])
    return pairs.drop_duplicates().reset_index(drop=True)


def _ancestor_pairs(frame: pd.DataFrame, codebook: Codebook, dimension: str) -> pd.DataFrame:
    """``(row, code)`` pairs for each coded code and all its ancestors (deduplicated).

    Counting these gives, for every node of the hierarchy at once, the incidents coded with
    the node or anything below it.
    """
    pairs = _code_pairs(frame, codebook, dimension)
    lineage = {c.id: (c.id, *c.ancestors) for c in codebook.codes(dimension)}
    pairs["code"] = pairs["code"].map(lambda code: lineage.get(code, (code,)))
    return pairs.explode("code").drop_duplicates().reset_index(drop=True)


def _rows_of(pairs: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{code: sorted incident rows}`` of a pairs table."""
    return {code: np.sort(group["row"].to_numpy()) for code, group in pairs.groupby("code", sort=False)}


def _share(count: float, total: float) -> float:
    return float(count) / float(total) if total else float("nan")


def _join(values: Iterable[str]) -> str:
    return "; ".join(values)


def _label_missing(values: pd.Series) -> pd.Series:
    """Grouping labels as text, with ``(unknown)`` for missing or empty values."""
    missing = values.isna() | (values.astype(str).str.strip() == "")
    return values.astype(object).where(~missing, UNKNOWN).astype(str)


def _sort_labels(labels: Iterable[str]) -> list[str]:
    """Sorted group labels with ``(unknown)`` last."""
    unique = set(labels)
    return sorted(unique - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in unique else [])


def periods(frame: pd.DataFrame, freq: str = "M") -> pd.Series:
    """``occurred_at`` bucketed into pandas Periods (``M`` month, ``Q``, ``Y``, ``W``, ``D``); NaT if undated."""
    return frame["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(freq)


def _group_labels(frame: pd.DataFrame, by: str, freq: str) -> tuple[pd.Series, list[str]]:
    """Each incident's group label and the groups in display order (periods chronological)."""
    if by == "period":
        buckets = periods(frame, freq)
        order = [str(p) for p in sorted(buckets.dropna().unique())]
        labels = buckets.map(lambda p: UNKNOWN if pd.isna(p) else str(p)).astype(str)
        if (labels == UNKNOWN).any():
            order.append(UNKNOWN)
        return labels.reset_index(drop=True), order
    if by not in frame.columns:
        raise ValueError(f"cannot break down by {by!r}: use one of {', '.join(BREAKDOWN_KEYS)} or a frame column")
    labels = _label_missing(frame[by]).reset_index(drop=True)
    return labels, _sort_labels(labels)


# -- 1. Gioia data structure ------------------------------------------------------------------


def gioia_structure(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str = "reasons",
    *,
    text_column: str = "text",
) -> pd.DataFrame:
    """The Gioia data structure of a hierarchical dimension, with incident counts at each level.

    One row per first-order concept under its second-order theme and aggregate dimension.
    ``aggregate_n`` counts incidents with *any* of the aggregate's themes (not the sum of the
    theme counts); ``theme_n`` counts incidents coded with the theme (or a code below it).

    First-order concepts are the codebook's ``first_order`` codes when it has them
    (``concept_source == "first_order_code"``, ``concept_n`` = incidents coded with the code).
    Otherwise they are the theme's indicators (``concept_source == "codebook_cue"``): cues the
    codebook offers, not codes from the data, so ``concept_n`` says how many of the theme's
    incidents actually contain the cue (case-insensitive; see :func:`cue_pattern`), which shows
    the researcher which cues the data bears out. Without a text column cue counts are missing.
    """
    levels = codebook.levels(dimension)
    if "aggregate" not in levels or "theme" not in levels:
        raise ValueError(
            f"dimension {dimension!r} has no aggregate/theme hierarchy for a Gioia structure"
            f" (levels: {', '.join(levels)})"
        )
    rows_of = _rows_of(_ancestor_pairs(frame, codebook, dimension))
    texts = frame[text_column].reset_index(drop=True) if text_column in frame.columns else None
    use_first_order = "first_order" in levels
    records: list[dict[str, Any]] = []
    themes = [c for c in codebook.codes(dimension) if c.code.level == "theme"]
    for theme in themes:
        aggregate = codebook.roll_up(dimension, theme.id, "aggregate")
        theme_rows = rows_of.get(theme.id, np.array([], dtype=np.int64))
        base = {
            "aggregate": aggregate,
            "aggregate_name": codebook.code(dimension, aggregate).code.name if aggregate else None,
            "aggregate_n": len(rows_of.get(aggregate, ())) if aggregate else 0,
            "theme": theme.id,
            "theme_name": theme.code.name,
            "theme_n": len(theme_rows),
        }
        if use_first_order:
            concepts = _first_order_concepts(codebook, dimension, theme.id, rows_of)
        else:
            concepts = _cue_concepts(theme.code.indicators, theme_rows, texts)
        if not concepts:
            concepts = [{"concept": None, "concept_source": None, "concept_id": None, "concept_n": pd.NA}]
        for concept in concepts:
            n = concept["concept_n"]
            share = _share(n, len(theme_rows)) if not pd.isna(n) else float("nan")
            records.append({**base, **concept, "concept_share": share})
    columns = [
        "aggregate",
        "aggregate_name",
        "aggregate_n",
        "theme",
        "theme_name",
        "theme_n",
        "concept",
        "concept_source",
        "concept_id",
        "concept_n",
        "concept_share",
    ]
    table = pd.DataFrame.from_records(records, columns=columns)
    table["concept_n"] = table["concept_n"].astype("Int64")
    return _aggregate_order(table, codebook, dimension)


def _aggregate_order(table: pd.DataFrame, codebook: Codebook, dimension: str) -> pd.DataFrame:
    """Group theme rows under their aggregates in codebook order (themes keep their order)."""
    rank = {c.id: i for i, c in enumerate(codebook.codes(dimension))}
    key = table["aggregate"].map(lambda a: rank.get(a, len(rank)) if a else len(rank))
    return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def _first_order_concepts(
    codebook: Codebook, dimension: str, theme: str, rows_of: Mapping[str, np.ndarray]
) -> list[dict[str, Any]]:
    concepts = [c for c in codebook.codes(dimension) if c.code.level == "first_order" and theme in (c.id, *c.ancestors)]
    return [
        {
            "concept": c.code.name,
            "concept_source": FIRST_ORDER_SOURCE,
            "concept_id": c.id,
            "concept_n": len(rows_of.get(c.id, ())),
        }
        for c in concepts
    ]


def _cue_concepts(cues: Sequence[str], theme_rows: np.ndarray, texts: pd.Series | None) -> list[dict[str, Any]]:
    theme_texts = texts.iloc[theme_rows].fillna("").astype(str) if texts is not None else None
    concepts = []
    for cue in cues:
        pattern = cue_pattern(cue)
        if theme_texts is None:
            n: Any = pd.NA
        elif pattern is None:
            n = 0
        else:
            n = int(theme_texts.str.contains(pattern, regex=True).sum())
        concepts.append({"concept": cue, "concept_source": CUE_SOURCE, "concept_id": None, "concept_n": n})
    return concepts


def cue_pattern(cue: str) -> re.Pattern[str] | None:
    """A case-insensitive regex that finds a codebook cue in an incident's text.

    Codebook indicators are written for coders ("overpriced, rip-off, not worth the money",
    "I thought it meant ..., they meant ..."), so a cue matches when any of its comma- or
    semicolon-separated alternatives occurs as whole words, with ``...`` standing for any gap.
    Alternatives shorter than four letters ("but") are ignored: they would match nearly every
    text and say nothing about the theme. None when no alternative is left.
    """
    alternatives = []
    for alternative in re.split(r"[,;]", cue):
        fragments = [f.strip(" \"'()") for f in re.split(r"\.\.\.|…", alternative)]
        fragments = [f for f in fragments if f]
        if sum(ch.isalnum() for f in fragments for ch in f) < 4:
            continue
        alternatives.append(r".*?".join(_whole_words(f) for f in fragments))
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE | re.DOTALL)


def _whole_words(fragment: str) -> str:
    start = r"\b" if fragment[0].isalnum() else ""
    end = r"\b" if fragment[-1].isalnum() else ""
    return f"{start}{re.escape(fragment)}{end}"


# -- 2. Järvi et al. (2018) Table 3 -----------------------------------------------------------


def reasons_timing_relationship(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str = "reasons",
    phase: str | None = "phase",
    *,
    valence: str | None = "valence",
    negative_codes: Sequence[str] = NEGATIVE_VALENCE,
    relationship_types: Sequence[str] = RELATIONSHIP_TYPES,
) -> pd.DataFrame:
    """Järvi et al. (2018) Table 3 rebuilt from data: reasons by timing and relationship type.

    One row per code of ``dimension`` in codebook order (each aggregate reason followed by its
    themes), then a final ``level == "total"`` row of all co-destruction incidents as the baseline
    to read the reasons against. Columns: the codebook's ``timing`` and ``relationship_types``
    (what the paper reports), ``n`` (incidents with the code or a code below it),
    ``share_of_codestruction`` (of all co-destruction incidents), and observed counts and shares
    (of the reason's incidents) by phase (``phase_<code>_n``/``_share``) and by the incident's
    relationship type (``rel_<type>_n``/``_share``).

    Only incidents whose ``valence`` is one of ``negative_codes`` are counted, so that every share
    has the co-destruction incidents as its base; ``valence=None`` counts all incidents.
    """
    base = _negative_incidents(frame, valence, negative_codes)
    rows_of = _rows_of(_ancestor_pairs(base, codebook, dimension))
    phases = _phase_labels(base, codebook, phase)
    relationships = _label_missing(base["relationship_type"]).reset_index(drop=True)
    relationship_order = [*relationship_types, *sorted(set(relationships) - set(relationship_types) - {UNKNOWN})]
    if (relationships == UNKNOWN).any():
        relationship_order.append(UNKNOWN)
    records = []
    for flat in codebook.codes(dimension):
        rows = rows_of.get(flat.id, np.array([], dtype=np.int64))
        record: dict[str, Any] = {
            "level": flat.code.level,
            "code": flat.id,
            "name": flat.code.name,
            "parent": flat.parent,
            "codebook_timing": _join(flat.code.timing),
            "codebook_relationship_types": _join(flat.code.relationship_types),
        }
        records.append(record | _table3_counts(rows, len(base), phases, relationships, relationship_order))
    everything = np.arange(len(base))
    total = {"level": "total", "code": "(all)", "name": "All co-destruction incidents", "parent": None}
    total |= {"codebook_timing": "", "codebook_relationship_types": ""}
    records.append(total | _table3_counts(everything, len(base), phases, relationships, relationship_order))
    return pd.DataFrame.from_records(records)


def _negative_incidents(frame: pd.DataFrame, valence: str | None, negative_codes: Sequence[str]) -> pd.DataFrame:
    if valence is None:
        return frame.reset_index(drop=True)
    if valence not in frame.columns:
        raise ValueError(f"the frame has no valence column {valence!r}; pass valence=None to count all incidents")
    return frame[frame[valence].isin(list(negative_codes))].reset_index(drop=True)


def _phase_labels(base: pd.DataFrame, codebook: Codebook, phase: str | None) -> tuple[pd.Series, list[str]] | None:
    """Each incident's observed phase and the phases in codebook order (None without a phase dimension)."""
    if phase is None or phase not in base.columns:
        return None
    labels = _label_missing(base[phase]).reset_index(drop=True)
    order = codebook.code_ids(phase) if phase in codebook.dimension_ids else []
    order = _with_extras(order, set(labels) - {UNKNOWN})
    if (labels == UNKNOWN).any():
        order.append(UNKNOWN)
    return labels, order


def _table3_counts(
    rows: np.ndarray,
    total: int,
    phases: tuple[pd.Series, list[str]] | None,
    relationships: pd.Series,
    relationship_order: Sequence[str],
) -> dict[str, Any]:
    counts: dict[str, Any] = {"n": len(rows), "share_of_codestruction": _share(len(rows), total)}
    blocks = [(RELATIONSHIP_PREFIX, relationships, relationship_order)]
    if phases is not None:
        blocks.insert(0, (PHASE_PREFIX, phases[0], phases[1]))
    for prefix, labels, order in blocks:
        observed = labels.iloc[rows].value_counts()
        for value in order:
            n = int(observed.get(value, 0))
            counts[f"{prefix}{value}_n"] = n
            counts[f"{prefix}{value}_share"] = _share(n, len(rows))
    return counts


def _count_table(rows: pd.Series, columns: pd.Series, index: Sequence[str], header: Sequence[str]) -> pd.DataFrame:
    """Cross-tabulated pair counts in the given row and column order, zeros where a pair never occurs."""
    pairs = pd.DataFrame({"r": np.asarray(rows, dtype=object), "c": np.asarray(columns, dtype=object)}).dropna()
    counts = pairs.groupby(["r", "c"], sort=False).size()
    table = counts.unstack("c", fill_value=0) if len(counts) else pd.DataFrame()
    return table.reindex(index=list(index), columns=list(header), fill_value=0).fillna(0).astype(int)


# -- 3. breakdowns ----------------------------------------------------------------------------


def breakdown(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str,
    by: str,
    level: str | None = None,
    freq: str = "M",
    *,
    include_none: bool = True,
) -> pd.DataFrame:
    """Counts and shares of a dimension's codes per source, channel, segment, ... or period.

    Tidy (long) table: ``<by>, code, name, n, group_n, share`` with ``share = n / group_n``,
    ``group_n`` being the incidents of the group. ``by="period"`` buckets ``occurred_at`` by
    ``freq``; undated incidents, like a missing segment, form the ``(unknown)`` group. With
    ``include_none`` a ``(none)`` row counts the group's incidents without any code, so a
    reader sees what the shares leave out. Use :func:`to_wide` for a code × group pivot.
    """
    labels, groups = _group_labels(frame, by, freq)
    pairs = _code_pairs(frame, codebook, dimension, level)
    codes = _with_extras(_code_order(codebook, dimension, level), pairs["code"])
    counts = _count_table(labels.iloc[pairs["row"]], pairs["code"], groups, codes)
    group_n = labels.value_counts()
    if include_none:
        uncoded = labels.drop(index=pairs["row"].unique()).value_counts()
        counts[NO_CODE] = uncoded.reindex(groups, fill_value=0).to_numpy()
        codes = [*codes, NO_CODE]
    names = code_names(codebook, dimension)
    records = [
        {
            by: group,
            "code": code,
            "name": names.get(code, code),
            "n": int(counts.at[group, code]),
            "group_n": int(group_n.get(group, 0)),
            "share": _share(counts.at[group, code], group_n.get(group, 0)),
        }
        for group in groups
        for code in codes
    ]
    return pd.DataFrame.from_records(records, columns=[by, "code", "name", "n", "group_n", "share"])


def to_wide(table: pd.DataFrame, columns: str | None = None, values: str = "n", index: str = "code") -> pd.DataFrame:
    """Pivot a long view (``breakdown``, ``by_reason``, ``trend``) to one row per ``index`` value.

    ``columns`` defaults to the long table's first column (the group key). Unlike
    ``DataFrame.pivot`` this keeps rows and columns in the order the view gave them
    (codebook order, chronological periods) instead of sorting them alphabetically; a ``name``
    column is kept beside the index when the table has one.
    """
    columns = columns or str(table.columns[0])
    row_order = list(dict.fromkeys(table[index]))
    column_order = list(dict.fromkeys(table[columns]))
    wide = table.pivot(index=index, columns=columns, values=values).reindex(index=row_order, columns=column_order)
    wide.columns = [str(c) for c in wide.columns]
    wide = wide.reset_index()
    name_column = f"{index}_name" if index != "code" else "name"
    if name_column in table.columns:
        names = table.drop_duplicates(index).set_index(index)[name_column]
        wide.insert(1, name_column, wide[index].map(names))
    return wide


# -- 4. trends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """Shares of codes over time and which codes are rising or falling.

    ``periods``: long table ``period, period_start, code, name, n, period_n, share`` over the
    periods that have incidents. ``summary``: per code ``n`` (all dated incidents), ``periods``
    (periods used), ``slope`` (least-squares change of the share per period, gaps counted as
    elapsed periods), ``first_period``/``first_share``, ``last_period``/``last_share``, ``change``
    (last minus first share) and ``direction`` (rising, falling or flat, by the slope's sign).
    ``undated``: incidents left out because their date is unknown.
    """

    periods: pd.DataFrame
    summary: pd.DataFrame
    undated: int


def trend(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str,
    freq: str = "M",
    level: str | None = None,
    *,
    min_period_n: int = 1,
    include_none: bool = False,
) -> Trend:
    """Per-period counts and shares of each code, and a trend statistic per code.

    Periods with fewer than ``min_period_n`` incidents stay in the table but not in the slope,
    since a share of one or two incidents swings between 0 and 1 and would drive the fit.
    """
    dated = frame[frame["occurred_at"].notna()].reset_index(drop=True)
    table = breakdown(dated, codebook, dimension, "period", level, freq, include_none=include_none)
    table = table[table["group_n"] > 0].reset_index(drop=True)
    starts = {p: pd.Period(p, freq=freq) for p in table["period"].unique()}
    table.insert(1, "period_start", table["period"].map(lambda p: starts[p].start_time))
    table = table.rename(columns={"group_n": "period_n"})
    summary = pd.DataFrame.from_records(
        [trend_summary(group, starts, min_period_n) for _, group in table.groupby("code", sort=False)],
        columns=[
            "code",
            "name",
            "n",
            "periods",
            "slope",
            "first_period",
            "first_share",
            "last_period",
            "last_share",
            "change",
            "direction",
        ],
    )
    return Trend(periods=table, summary=summary, undated=int(len(frame) - len(dated)))


def trend_summary(group: pd.DataFrame, starts: Mapping[str, pd.Period], min_period_n: int) -> dict[str, Any]:
    used = group[group["period_n"] >= min_period_n]
    x = np.array([starts[p].ordinal for p in used["period"]], dtype=float)
    y = used["share"].to_numpy(dtype=float)
    slope = least_squares_slope(x, y)
    first, last = (used.iloc[0], used.iloc[-1]) if len(used) else (None, None)
    return {
        "code": group["code"].iloc[0],
        "name": group["name"].iloc[0],
        "n": int(group["n"].sum()),
        "periods": len(used),
        "slope": slope,
        "first_period": first["period"] if first is not None else None,
        "first_share": float(first["share"]) if first is not None else float("nan"),
        "last_period": last["period"] if last is not None else None,
        "last_share": float(last["share"]) if last is not None else float("nan"),
        "change": float(last["share"] - first["share"]) if first is not None else float("nan"),
        "direction": _direction(slope),
    }


def least_squares_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Ordinary least-squares slope of ``y`` on ``x``; NaN with fewer than two distinct ``x``."""
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan")
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


def _direction(slope: float, tolerance: float = 1e-9) -> str:
    if np.isnan(slope):
        return "n/a"
    if slope > tolerance:
        return "rising"
    if slope < -tolerance:
        return "falling"
    return "flat"


# -- 5. co-occurrence -------------------------------------------------------------------------


def cooccurrence(
    frame: pd.DataFrame,
    codebook: Codebook,
    dim_a: str,
    dim_b: str | None = None,
    level: str | None = None,
    *,
    level_b: str | None = None,
    measure: Measure = "count",
) -> pd.DataFrame:
    """Incidents coded with both codes: a matrix with ``dim_a`` codes as rows, ``dim_b`` codes as columns.

    With ``dim_b=None`` the matrix is ``dim_a`` against itself (symmetric; the diagonal holds
    each code's incident count) and ``level`` applies to both sides; otherwise ``level_b`` rolls
    up ``dim_b``. ``measure="lift"`` gives ``n_ab · N / (n_a · n_b)`` (above 1: the codes meet
    more often than chance), ``"jaccard"`` gives ``n_ab / (n_a + n_b − n_ab)``; both NaN where a
    code never occurs. The index and columns are named after the dimensions.
    """
    same = dim_b is None or (dim_b == dim_a and level_b is None)
    dim_b = dim_a if dim_b is None else dim_b
    level_b = level if same else level_b
    pairs_a = _code_pairs(frame, codebook, dim_a, level)
    pairs_b = pairs_a if same and level_b == level else _code_pairs(frame, codebook, dim_b, level_b)
    codes_a = _with_extras(_code_order(codebook, dim_a, level), pairs_a["code"])
    codes_b = _with_extras(_code_order(codebook, dim_b, level_b), pairs_b["code"])
    matrix = _incidence(pairs_a, len(frame), codes_a).T @ _incidence(pairs_b, len(frame), codes_b)
    counts = pd.DataFrame(matrix, index=pd.Index(codes_a, name=dim_a), columns=pd.Index(codes_b, name=dim_b))
    if measure == "count":
        return counts.astype(int)
    n_a = pairs_a["code"].value_counts().reindex(codes_a, fill_value=0).to_numpy(dtype=float)
    n_b = pairs_b["code"].value_counts().reindex(codes_b, fill_value=0).to_numpy(dtype=float)
    both = counts.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "lift":
            values = both * len(frame) / np.outer(n_a, n_b)
        elif measure == "jaccard":
            values = both / (n_a[:, None] + n_b[None, :] - both)
        else:
            raise ValueError(f"unknown measure {measure!r}: use count, lift or jaccard")
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=counts.index, columns=counts.columns)


def _incidence(pairs: pd.DataFrame, rows: int, codes: Sequence[str]) -> np.ndarray:
    """0/1 matrix incidents × codes; its cross-product counts incidents with both codes."""
    position = {code: i for i, code in enumerate(codes)}
    matrix = np.zeros((rows, len(codes)), dtype=np.int64)
    matrix[pairs["row"].to_numpy(), pairs["code"].map(position).to_numpy(dtype=np.int64)] = 1
    return matrix


# -- 6. codes by reason -----------------------------------------------------------------------


def by_reason(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str,
    reason_level: str | None = "aggregate",
    *,
    reasons: str = "reasons",
    level: str | None = None,
    include_none: bool = True,
) -> pd.DataFrame:
    """How incidents of each reason were coped with (or what they cost): a reason × code table.

    Long table ``reason, reason_name, reason_n, code, name, n, share`` with ``share = n /
    reason_n`` (row shares: of the incidents with that reason, how many show the code). An
    incident with two reasons counts under both. ``(none)`` counts a reason's incidents without
    any code in ``dimension`` (for coping: the affected party did nothing the text reports).
    """
    reason_pairs = _code_pairs(frame, codebook, reasons, reason_level)
    code_pairs = _code_pairs(frame, codebook, dimension, level)
    reason_codes = _with_extras(_code_order(codebook, reasons, reason_level), reason_pairs["code"])
    codes = _with_extras(_code_order(codebook, dimension, level), code_pairs["code"])
    joined = reason_pairs.merge(code_pairs, on="row", how="left", suffixes=("_reason", ""))
    if include_none:
        joined["code"] = joined["code"].fillna(NO_CODE)
        codes = [*codes, NO_CODE]
    counts = _count_table(joined["code_reason"], joined["code"], reason_codes, codes)
    reason_n = reason_pairs["code"].value_counts()
    reason_names, names = code_names(codebook, reasons), code_names(codebook, dimension)
    records = [
        {
            "reason": reason,
            "reason_name": reason_names.get(reason, reason),
            "reason_n": int(reason_n.get(reason, 0)),
            "code": code,
            "name": names.get(code, code),
            "n": int(counts.at[reason, code]),
            "share": _share(counts.at[reason, code], reason_n.get(reason, 0)),
        }
        for reason in reason_codes
        for code in codes
    ]
    return pd.DataFrame.from_records(
        records, columns=["reason", "reason_name", "reason_n", "code", "name", "n", "share"]
    )


# -- 7. encounter / relationship timelines ----------------------------------------------------


def timeline_keys(frame: pd.DataFrame, key: str = "thread_id", min_incidents: int = 2) -> pd.DataFrame:
    """Threads or customers with at least ``min_incidents`` incidents, most incidents first.

    Columns ``<key>, n, first_at, last_at, span_days`` and, when the frame has valence, the
    valence sequence (``co_destruction > mixed``) so a reader can spot spirals and recoveries.
    """
    keyed = frame[~_label_missing(frame[key]).eq(UNKNOWN).to_numpy()]
    if min_incidents > 1 and not keyed.empty:  # most customers of a big corpus have one incident: skip them at once
        keyed = keyed[keyed.groupby(key, sort=False)[key].transform("size").to_numpy() >= min_incidents]
    ordered = keyed.assign(_frame_order=range(len(keyed))).sort_values(
        [key, "occurred_at", "thread_position", "_frame_order"], na_position="last", kind="stable"
    )
    groups = ordered.groupby(key, sort=True)  # one sort and one grouping for all groups, not one per group
    table = pd.DataFrame(
        {"n": groups.size(), "first_at": groups["occurred_at"].min(), "last_at": groups["occurred_at"].max()}
    )
    table["span_days"] = (table["last_at"] - table["first_at"]).dt.total_seconds() / 86400
    if "valence" in frame.columns:
        table["valence_sequence"] = groups["valence"].agg(lambda v: " > ".join(str(x) for x in v if x is not None))
    table = table.rename_axis(key).reset_index()
    table["n"] = table["n"].astype("int64")
    table["first_at"] = pd.to_datetime(table["first_at"], utc=True)
    table["last_at"] = pd.to_datetime(table["last_at"], utc=True)
    table = table.sort_values(["n", key], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def timeline(
    frame: pd.DataFrame,
    key: str = "thread_id",
    value: Any = None,
    *,
    dimensions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The incidents of one thread, customer or relationship in time order.

    Ordered by ``occurred_at`` (undated last), then ``thread_position``, then frame order.
    Columns: ``step`` (1, 2, ...), ``item_id``, ``occurred_at``, ``thread_position``, ``source``,
    ``channel``, the ``dimensions`` (default: valence, reasons, coping and resources lost, where
    the frame has them, else every dimension column) and ``text`` when present.
    """
    if value is None:
        raise ValueError(f"timeline needs the {key} to show (see timeline_keys)")
    group = frame[frame[key].astype(object) == value]
    if dimensions is None:
        dimensions = [d for d in TIMELINE_DIMENSIONS if d in frame.columns] or [
            c for c in frame.columns if c not in _NOT_DIMENSIONS
        ]
    columns = ["item_id", "occurred_at", "thread_position", "source", "channel", *dimensions]
    columns += ["text"] if "text" in frame.columns else []
    ordered = _in_time_order(group)[columns].reset_index(drop=True)
    ordered.insert(0, "step", range(1, len(ordered) + 1))
    return ordered


def _in_time_order(group: pd.DataFrame) -> pd.DataFrame:
    order = group.assign(_frame_order=range(len(group)))
    order = order.sort_values(["occurred_at", "thread_position", "_frame_order"], na_position="last", kind="stable")
    return order.drop(columns="_frame_order")


# -- writing ----------------------------------------------------------------------------------


def write_tables(
    tables: Mapping[str, pd.DataFrame], directory: str | Path, *, workbook: str = "tables.xlsx"
) -> list[Path]:
    """Write each table as ``<name>.csv`` and all of them as sheets of one XLSX workbook.

    ``workbook`` is a file name inside ``directory``, or an absolute path to put it elsewhere.

    Tuples of codes become ``a; b`` as in the annotation guide, timestamps ISO 8601 UTC text in
    CSV and naive UTC datetimes in XLSX (Excel has no time zones). A table's index is written
    only when it carries labels (a co-occurrence matrix), not a row number. Every file is written
    atomically, so a reader never opens a half-written table. Returns the paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    file_stems = _unique_names([_file_stem(name) for name in tables], limit=120)
    for stem, table in zip(file_stems, tables.values(), strict=True):
        path = directory / f"{stem}.csv"
        with atomic_path(path) as tmp:
            _printable(table, excel=False).to_csv(tmp, index=_has_labels(table), lineterminator="\n")
        written.append(path)
    path = directory / workbook
    with atomic_path(path, make_parents=True) as tmp:
        _write_workbook(tables, tmp)
    written.append(path)
    return written


def _write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    sheet_names = _unique_names([_sheet_name(name) for name in tables], limit=31)
    for sheet_name, table in zip(sheet_names, tables.values(), strict=True):
        sheet = book.create_sheet(sheet_name)
        printable = _printable(table, excel=True)
        if _has_labels(table):
            printable = printable.reset_index()
        sheet.append([str(c) for c in printable.columns])
        for row in printable.itertuples(index=False, name=None):
            sheet.append([_excel_value(v) for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for index, column in enumerate(printable.columns, start=1):
            width = max([len(str(column)), *(len(_display(v)) for v in printable[column].head(500))])
            sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 60)
    book.save(path)


def _has_labels(table: pd.DataFrame) -> bool:
    return not isinstance(table.index, pd.RangeIndex)


def _printable(table: pd.DataFrame, *, excel: bool) -> pd.DataFrame:
    """A copy whose cells a CSV or XLSX reader shows as intended."""
    out = table.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            utc = series.dt.tz_convert("UTC")
            out[column] = utc.dt.tz_localize(None) if excel else utc.map(_iso)
        elif series.dtype == object:
            out[column] = series.map(_cell_text)
    return out


def _iso(value: Any) -> str:
    return "" if pd.isna(value) else value.isoformat()


def _cell_text(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return _join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, pd.Period):
        return str(value)
    return value


def _excel_value(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _display(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(name: str) -> str:
    cleaned = _SHEET_FORBIDDEN.sub("_", str(name)).strip("'") or "table"
    return cleaned[:31]


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "table"


def _unique_names(names: Sequence[str], limit: int) -> list[str]:
    """Make names unique case-insensitively (Excel sheets, case-insensitive file systems) within ``limit``."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, counter = name[:limit], 2
        while candidate.lower() in seen:
            suffix = f"_{counter}"
            candidate, counter = name[: limit - len(suffix)] + suffix, counter + 1
        seen.add(candidate.lower())
        unique.append(candidate)
    return unique
