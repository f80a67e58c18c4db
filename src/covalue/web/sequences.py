"""Loss spirals and encounter timelines as drillable tables, over the member's visible analysis frame.

The numbers are :mod:`covalue.analysis.spirals` and :mod:`covalue.analysis.views`; this module
only attaches to every count the selection of groups behind it. A spiral count is a number of
*groups* (threads or customers), so its drill-down lists those groups with their incidents in
sequence order. Counts and drill-downs both go through :func:`select_groups`, so they cannot
disagree. The frame comes from :func:`covalue.web.viewmodels.analysis_frame`, which reads only the
codes the member may see: a blind round stays blind here as on every other dashboard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pandas as pd

from covalue.analysis import spirals, views
from covalue.framework.codebook import Codebook
from covalue.web.dashboards import Cell, code_name

GROUP_KEYS = spirals.GROUP_KEYS
#: ``is=…`` selections of groups; "escalating" counts escalating spirals, as ``spiral_summary`` does.
KINDS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "all": lambda found: pd.Series(True, index=found.index),
    "loss": lambda found: found["has_loss"].astype(bool),
    "spiral": lambda found: found["is_spiral"].astype(bool),
    "escalating": lambda found: found["is_spiral"].astype(bool) & found["escalates"].astype(bool),
    "recovered": lambda found: found["has_loss"].astype(bool) & found["recovered"].astype(bool),
}
#: A filter value standing for "none" (no reason coded, no provider known).
NONE = "(none)"
#: Separator of rungs in an ``escalation=`` filter (``public_complaint>exit``).
PATH_SEPARATOR = ">"
#: Most groups the timeline page lists.
TIMELINE_LIMIT = 40
#: Dimensions a sequence table shows for each incident.
SEQUENCE_DIMENSIONS = ("valence", "reasons", "resources_lost", "coping")


def unit_name(key: str) -> str:
    """``thread_id`` → ``thread``: how the page names a group."""
    return key.removesuffix("_id").replace("_", " ")


def group_key(data: pd.DataFrame, asked: str | None = None) -> str | None:
    """The asked key, else the report's rule (``analysis.spirals.default_group_key``)."""
    if asked:
        if asked not in GROUP_KEYS:
            raise ValueError(f"group by one of {', '.join(GROUP_KEYS)}, not {asked!r}")
        return asked
    return spirals.default_group_key(data)


def detect(data: pd.DataFrame, codebook: Codebook, key: str) -> pd.DataFrame:
    """One row per analysed group (``analysis.spirals.detect_spirals``)."""
    return spirals.detect_spirals(data, codebook, by=key, config=spirals.config_for(data))


def supported(codebook: Codebook) -> bool:
    """Whether the codebook has what the detector reads (the vcd dimensions)."""
    try:
        spirals.VCD.validate(codebook)
    except (KeyError, ValueError):
        return False
    return True


# -- selecting groups ---------------------------------------------------------------------------
def _codes_match(value: str) -> Callable[[Any], bool]:
    return lambda codes: (not codes) if value == NONE else value in tuple(codes or ())


def _path_is(value: str) -> Callable[[Any], bool]:
    wanted = tuple(value.split(PATH_SEPARATOR))
    return lambda path: tuple(path or ()) == wanted


def _provider_is(value: str) -> Callable[[Any], bool]:
    return lambda provider: (provider is None) if value == NONE else provider == value


def select_groups(found: pd.DataFrame, filters: Sequence[str]) -> pd.DataFrame:
    """Groups matching every filter: ``is=<kind>``, ``reason=<aggregate>``, ``provider=…``,
    ``escalation=<rung>><rung>…`` or ``secondary=<resource>`` (``(none)`` selects a missing reason or provider)."""
    mask = pd.Series(True, index=found.index)
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"a filter is field=value, got {item!r}")
        if name == "is":
            if value not in KINDS:
                raise ValueError(f"is= takes one of {', '.join(KINDS)}, not {value!r}")
            mask &= KINDS[value](found)
        elif name == "reason":
            mask &= found["trigger_aggregates"].map(_codes_match(value)).astype(bool)
        elif name == "provider":
            mask &= found["provider"].map(_provider_is(value)).astype(bool)
        elif name == "escalation":
            mask &= found["escalation_path"].map(_path_is(value)).astype(bool)
        elif name == "secondary":
            mask &= found["secondary_resources"].map(lambda codes, v=value: v in tuple(codes or ())).astype(bool)
        else:
            raise ValueError(f"cannot select groups by {name!r}")
    return found[mask]


def _cell(found: pd.DataFrame, *filters: str) -> Cell:
    return Cell(len(select_groups(found, filters)) if len(found) else 0, filters)


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{low * 100:.0f}–{high * 100:.0f}%"


def _share(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 100:.1f}%"


# -- the spirals page ---------------------------------------------------------------------------
def _cards(found: pd.DataFrame, summary: spirals.SpiralSummary, unit: str) -> list[dict[str, Any]]:
    """The summary cards; ``kind`` is the card's stable id (its ``is=`` selection)."""
    return [
        {"kind": "all", "label": f"{unit}s analysed", "cell": _cell(found, "is=all"), "note": "two or more incidents"},
        {"kind": "loss", "label": "with a primary loss", "cell": _cell(found, "is=loss"), "note": "a co-destruction"},
        {
            "kind": "spiral",
            "label": "loss spirals",
            "cell": _cell(found, "is=spiral"),
            "note": f"{_share(summary.share_of_losses)} of losses",
            "interval": _interval(*summary.share_of_losses_ci),
        },
        {"kind": "escalating", "label": "escalating", "cell": _cell(found, "is=escalating"), "note": "coping climbed"},
        {
            "kind": "recovered",
            "label": "recovered after a loss",
            "cell": _cell(found, "is=recovered"),
            "note": f"recovery rate {_share(summary.recovery_rate)}",
            "interval": _interval(*summary.recovery_ci),
        },
    ]


def _reason_filter(reason: str) -> str:
    return f"reason={NONE if reason == spirals.NO_REASON else reason}"


def _reason_label(codebook: Codebook, reason: str) -> dict[str, str]:
    if reason == spirals.NO_REASON:
        return {"code": "", "name": reason}
    return {"code": reason, "name": code_name(codebook, "reasons", reason)}


def _by_reason(found: pd.DataFrame, summary: spirals.SpiralSummary, codebook: Codebook) -> list[dict[str, Any]]:
    """``spiral_summary``'s rows by reason, with the reason's recovery rate (``recovery_rates``) beside them."""
    rates = {str(r["reason"]): r for r in spirals.recovery_rates(found, by="reason").to_dict("records")}
    rows = []
    for record in summary.by_reason.to_dict("records"):
        reason = _reason_filter(str(record["reason"]))
        rate = rates[str(record["reason"])]
        rows.append(
            {
                **_reason_label(codebook, str(record["reason"])),
                "loss_groups": _cell(found, "is=loss", reason),
                "spirals": _cell(found, "is=spiral", reason),
                "share": _share(record["share"]),
                "interval": _interval(record["ci_low"], record["ci_high"]),
                "recovered": _cell(found, "is=recovered", reason),
                "recovery_rate": _share(rate["rate"]),
                "recovery_interval": _interval(rate["ci_low"], rate["ci_high"]),
            }
        )
    return rows


def _recovery(found: pd.DataFrame, codebook: Codebook, by: str) -> list[dict[str, Any]]:
    """Recovery rates (``analysis.spirals.recovery_rates``) with drillable group counts."""
    rows = []
    for record in spirals.recovery_rates(found, by=by).to_dict("records"):  # type: ignore[arg-type]
        key = str(record[by])
        if by == "reason":
            label, selection = _reason_label(codebook, key), _reason_filter(key)
        else:
            label = {"code": "", "name": key}
            selection = f"provider={NONE if key == '(unknown)' else key}"
        rows.append(
            {
                **label,
                "groups": _cell(found, "is=loss", selection),
                "recovered": _cell(found, "is=recovered", selection),
                "rate": _share(record["rate"]),
                "interval": _interval(record["ci_low"], record["ci_high"]),
            }
        )
    return rows


def _paths(found: pd.DataFrame, summary: spirals.SpiralSummary, codebook: Codebook) -> list[dict[str, Any]]:
    return [
        {
            "labels": [code_name(codebook, "coping", rung) for rung in path],
            "cell": _cell(found, "is=escalating", f"escalation={PATH_SEPARATOR.join(path)}"),
        }
        for path, _ in summary.escalation_paths
    ]


def _secondary(found: pd.DataFrame, summary: spirals.SpiralSummary, codebook: Codebook) -> list[dict[str, Any]]:
    return [
        {
            "code": code,
            "name": code_name(codebook, "resources_lost", code),
            "cell": _cell(found, "is=spiral", f"secondary={code}"),
        }
        for code, _ in summary.secondary_resources
    ]


def spiral_tables(found: pd.DataFrame, codebook: Codebook, unit: str = "group") -> dict[str, Any]:
    """Summary cards, spirals by reason, recovery by reason and provider, escalation paths, new losses."""
    summary = spirals.spiral_summary(found)
    return {
        "cards": _cards(found, summary, unit),
        "mean_length": None if math.isnan(summary.mean_spiral_length) else round(summary.mean_spiral_length, 2),
        "by_reason": _by_reason(found, summary, codebook),
        "recovery_by_reason": _recovery(found, codebook, "reason"),
        "recovery_by_provider": _recovery(found, codebook, "provider") if found["provider"].nunique() > 1 else [],
        "escalation_paths": _paths(found, summary, codebook),
        "secondary_resources": _secondary(found, summary, codebook),
    }


# -- the incidents behind a count ---------------------------------------------------------------
_KIND_NAMES = {
    "all": "analysed",
    "loss": "with a primary loss",
    "spiral": "loss spirals",
    "escalating": "escalating spirals",
    "recovered": "recovered after a loss",
}


def describe(codebook: Codebook, item: str) -> str:
    """A group selection in words, for the chips above a drill-down (``reason=R1`` → ``reason R1 …``)."""
    name, _, value = item.partition("=")
    if name == "is":
        return _KIND_NAMES.get(value, item)
    if name == "reason":
        return "no reason coded" if value == NONE else f"reason {value} {code_name(codebook, 'reasons', value)}"
    if name == "escalation":
        return "escalation " + " → ".join(code_name(codebook, "coping", c) for c in value.split(PATH_SEPARATOR))
    if name == "secondary":
        return f"newly lost: {code_name(codebook, 'resources_lost', value)}"
    return f"{name} {value}"


def _names(codebook: Codebook, dimension: str, value: Any) -> list[dict[str, str]]:
    """A cell's codes with their names, for chips (a single value becomes a one-item list)."""
    if dimension not in codebook.dimension_ids or value is None:
        return []
    codes = (value,) if isinstance(value, str) else tuple(value or ())
    return [
        {"code": c, "name": code_name(codebook, dimension, c), "colour": _colour(codebook, dimension, c)} for c in codes
    ]


def _colour(codebook: Codebook, dimension: str, code: str) -> str | None:
    """The codebook's colour of a code (valence has one), for the dots a script paints (CSP: no inline style)."""
    return getattr(codebook.code(dimension, code).code, "colour", None) if codebook.has_code(dimension, code) else None


def _step_row(row: pd.Series, codebook: Codebook, marks: dict[str, str]) -> dict[str, Any]:
    occurred = row.get("occurred_at")
    return {
        "item_id": row["item_id"],
        "occurred_at": None if occurred is None or pd.isna(occurred) else occurred.strftime("%Y-%m-%d %H:%M"),
        "role": row.get("role"),
        "mark": marks.get(str(row["item_id"]), ""),
        **{d: _names(codebook, d, row.get(d)) for d in SEQUENCE_DIMENSIONS},
    }


def _marks(group: pd.Series) -> dict[str, str]:
    """What each incident is in the group's sequence: the primary loss, a spiral step, the recovery."""
    marks = {str(item): "spiral step" for item in group["spiral_items"]}
    if group["primary_item"]:
        marks[str(group["primary_item"])] = "primary loss"
    if group["recovered_item"]:
        marks[str(group["recovered_item"])] = "recovery"
    return marks


def group_views(data: pd.DataFrame, codebook: Codebook, key: str, groups: pd.DataFrame) -> list[dict[str, Any]]:
    """Each selected group with its incidents in sequence order (provider turns included, marked by role)."""
    ordered = spirals.sequences(data, key)
    result = []
    for _, group in groups.iterrows():
        rows = ordered.get(group["group"], data.iloc[0:0])
        marks = _marks(group)
        result.append(
            {
                "group": group["group"],
                "provider": group["provider"],
                "n_incidents": int(group["n_incidents"]),
                "is_spiral": bool(group["is_spiral"]),
                "spiral_length": int(group["spiral_length"]),
                "escalation": [code_name(codebook, "coping", c) for c in group["escalation_path"]],
                "has_loss": bool(group["has_loss"]),
                "recovered": bool(group["recovered"]),
                "steps": [_step_row(row, codebook, marks) for _, row in rows.iterrows()],
            }
        )
    return result


def drill_items(data: pd.DataFrame, key: str, groups: pd.DataFrame) -> list[str]:
    """The incidents of the selected groups, group by group in sequence order."""
    ordered = spirals.sequences(data, key)
    return [str(item) for g in groups["group"] for item in ordered.get(g, data.iloc[0:0])["item_id"]]


# -- encounter timelines ------------------------------------------------------------------------
def timeline_groups(
    data: pd.DataFrame, codebook: Codebook, key: str, limit: int = TIMELINE_LIMIT
) -> list[dict[str, Any]]:
    """The threads or customers with most incidents (``analysis.views.timeline_keys``), each drillable."""
    if not len(data):
        return []
    table = views.timeline_keys(data, key).head(limit)
    rows = []
    for record in table.to_dict("records"):
        first, last = record["first_at"], record["last_at"]
        rows.append(
            {
                "value": str(record[key]),
                "cell": Cell(int(record["n"]), (f"{key}={record[key]}",)),
                "first_at": None if pd.isna(first) else first.strftime("%Y-%m-%d"),
                "last_at": None if pd.isna(last) else last.strftime("%Y-%m-%d"),
                "span_days": None if pd.isna(record["span_days"]) else round(float(record["span_days"]), 1),
                "valences": _names(
                    codebook, "valence", [v for v in str(record.get("valence_sequence") or "").split(" > ") if v]
                ),
            }
        )
    return rows


def timeline_steps(data: pd.DataFrame, codebook: Codebook, key: str, value: Hashable) -> list[dict[str, Any]]:
    """One group's incidents in time order (``analysis.views.timeline``) with their codes."""
    table = views.timeline(data, key=key, value=value)
    return [{"step": int(row["step"]), **_step_row(row, codebook, {})} for _, row in table.iterrows()]


def timeline_svg(data: pd.DataFrame, codebook: Codebook, key: str, value: Hashable) -> str:
    """The group's timeline figure (``analysis.figures.timeline_figure``) as SVG text."""
    from covalue.analysis import figures

    table = views.timeline(data, key=key, value=value)
    colours = figures.code_colours(codebook, "valence") if "valence" in codebook.dimension_ids else None
    fig = figures.timeline_figure(table, colours=colours, title=f"{unit_name(key)} {value}")
    return figures.figure_svg(fig)
