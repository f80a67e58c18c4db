"""Dashboard tables over the analysis frame, each cell carrying the filter that drills into it.

The frame is ``covalue.analysis.frame.build_frame`` over the codes a member may see (blind
rounds stay blind on dashboards too). Every count here is "incidents matching a filter", and
the filter travels with the count, so a click on any number lists exactly the incidents
behind it (:func:`drill`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from covalue.analysis import views
from covalue.analysis.frame import build_frame
from covalue.framework.codebook import Codebook
from covalue.model.incident import Incident
from covalue.model.labels import LabelRow

#: Metadata columns a drill-down filter may name.
META_FILTERS = ("source", "relationship_type", "channel", "provider", "segment", "customer_id", "thread_id")
MONTH = "month"
YEAR = "year"
#: Above this many months a trend is shown per year (a long table of sparse months reads badly).
MAX_MONTHS = 24


@dataclass(frozen=True)
class Cell:
    """A count and the filters (``field=value`` strings) that select its incidents."""

    count: int
    filters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "filters": list(self.filters)}


def frame(
    incidents: Iterable[Incident],
    rows: dict[str, LabelRow],
    codebook: Codebook,
    evidence: dict[str, dict[str, list[list[int]]]] | None = None,
    *,
    with_text: bool = False,
) -> pd.DataFrame:
    """The analysis frame plus ``month`` and ``year`` columns for drill-down filters."""
    data = build_frame(incidents, rows, codebook, evidence=evidence, with_text=with_text)
    data[MONTH] = data["occurred_at"].dt.strftime("%Y-%m").where(data["occurred_at"].notna(), None)
    data[YEAR] = data["occurred_at"].dt.strftime("%Y").where(data["occurred_at"].notna(), None)
    return data


def _has(data: pd.DataFrame, codebook: Codebook, dimension: str, code: str) -> pd.Series:
    """Rows whose ``dimension`` holds ``code`` or a code below it (an aggregate counts its themes)."""

    def matches(value: str | None) -> bool:
        if value is None:
            return False
        if value == code:
            return True
        return codebook.has_code(dimension, value) and code in codebook.code(dimension, value).ancestors

    column = data[dimension]
    if codebook.is_multi(dimension):
        return column.map(lambda codes: any(matches(c) for c in codes or ()))
    return column.map(matches)


def select(data: pd.DataFrame, codebook: Codebook, filters: Sequence[str]) -> pd.DataFrame:
    """Rows matching every ``field=value`` filter (a dimension, a metadata column, ``month`` or ``year``).

    ``value`` may list alternatives as ``a|b`` (Table 3 counts co-destruction *or* mixed incidents).
    """
    mask = pd.Series(True, index=data.index)
    for item in filters:
        name, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"a filter is field=value, got {item!r}")
        either = pd.Series(False, index=data.index)
        for value in values.split("|"):
            if name in codebook.dimension_ids:
                if not codebook.has_code(name, value):
                    raise ValueError(f"dimension {name!r} has no code {value!r}")
                either |= _has(data, codebook, name, value)
            elif name in (*META_FILTERS, MONTH, YEAR):
                column = data[name].astype("object")
                either |= column.isna() if value == "(none)" else column.eq(value)
            else:
                raise ValueError(f"cannot filter on {name!r}")
        mask &= either
    return data[mask]


def drill(data: pd.DataFrame, codebook: Codebook, filters: Sequence[str]) -> list[str]:
    """The item ids behind a count, in frame (import) order."""
    return list(select(data, codebook, filters)["item_id"])


def code_name(codebook: Codebook, dimension: str, code: str) -> str:
    return codebook.code(dimension, code).code.name if codebook.has_code(dimension, code) else code


def frequencies(data: pd.DataFrame, codebook: Codebook) -> list[dict[str, Any]]:
    """Incidents per code of every dimension, in codebook order, with its share of coded incidents."""
    total = len(data)
    result = []
    for dimension in codebook.dimensions:
        rows = []
        for flat in codebook.codes(dimension.id):
            n = int(_has(data, codebook, dimension.id, flat.id).sum()) if total else 0
            rows.append(
                {
                    "code": flat.id,
                    "name": flat.code.name,
                    "depth": len(flat.ancestors),
                    "codable": flat.codable,
                    "cell": Cell(n, (f"{dimension.id}={flat.id}",)),
                    "share": n / total if total else 0.0,
                    "colour": getattr(flat.code, "colour", None),
                }
            )
        result.append(
            {"id": dimension.id, "name": dimension.name, "multi": dimension.cardinality == "multi", "rows": rows}
        )
    return result


def gioia(data: pd.DataFrame, codebook: Codebook) -> list[dict[str, Any]]:
    """The data structure of hierarchical dimensions: aggregate dimensions → themes, with counts."""
    structure = []
    for dimension in codebook.dimensions:
        if "aggregate" not in codebook.levels(dimension.id):
            continue
        aggregates = []
        for flat in codebook.codes(dimension.id):
            if flat.code.level != "aggregate":
                continue
            themes = [
                {
                    "code": child,
                    "name": code_name(codebook, dimension.id, child),
                    "cell": Cell(int(_has(data, codebook, dimension.id, child).sum()), (f"{dimension.id}={child}",)),
                }
                for child in flat.children
            ]
            aggregates.append(
                {
                    "code": flat.id,
                    "name": flat.code.name,
                    "cell": Cell(
                        int(_has(data, codebook, dimension.id, flat.id).sum()), (f"{dimension.id}={flat.id}",)
                    ),
                    "themes": themes,
                }
            )
        structure.append({"id": dimension.id, "name": dimension.name, "aggregates": aggregates})
    return structure


def crosstab(data: pd.DataFrame, codebook: Codebook, dimension: str, by: str) -> dict[str, Any]:
    """Incidents per (code of ``dimension``) × (value of metadata column or dimension ``by``)."""
    codes = [c.id for c in codebook.codes(dimension) if c.codable or c.code.level == "aggregate"]
    if by in codebook.dimension_ids:
        columns = [c.id for c in codebook.codes(by) if c.codable]
    else:
        columns = sorted({str(v) for v in data[by].dropna()}) if len(data) else []
    table = []
    for code in codes:
        base = f"{dimension}={code}"
        cells = [
            Cell(len(select(data, codebook, [base, f"{by}={col}"])) if len(data) else 0, (base, f"{by}={col}"))
            for col in columns
        ]
        if any(c.count for c in cells):
            table.append(
                {
                    "code": code,
                    "name": code_name(codebook, dimension, code),
                    "cells": cells,
                    "total": Cell(sum(c.count for c in cells), (base,)),
                }
            )
    labels = [code_name(codebook, by, c) if by in codebook.dimension_ids else c for c in columns]
    return {"dimension": dimension, "by": by, "columns": columns, "labels": labels, "rows": table}


def trend(data: pd.DataFrame, codebook: Codebook, dimension: str = "valence") -> dict[str, Any]:
    """Incidents per period and code of a dimension (dated incidents only), by month or, over long spans, by year."""
    dated = data[data[MONTH].notna()] if len(data) else data
    months = sorted(set(dated[MONTH])) if len(dated) else []
    period = MONTH if len(months) <= MAX_MONTHS else YEAR
    periods = sorted(set(dated[period])) if len(dated) else []
    codes = codebook.code_ids(dimension)
    rows = []
    for value in periods:
        in_period = dated[dated[period] == value]
        cells = [
            Cell(int(_has(in_period, codebook, dimension, c).sum()), (f"{period}={value}", f"{dimension}={c}"))
            for c in codes
        ]
        rows.append({"period": value, "cells": cells, "total": Cell(len(in_period), (f"{period}={value}",))})
    return {
        "dimension": dimension,
        "period": period,
        "codes": codes,
        "labels": [code_name(codebook, dimension, c) for c in codes],
        "rows": rows,
    }


def table3(data: pd.DataFrame, codebook: Codebook) -> dict[str, Any] | None:
    """Järvi et al.'s Table 3 (``analysis.views.reasons_timing_relationship``) with drillable cells."""
    needed = {"reasons", "phase", "valence"}
    if not needed <= set(codebook.dimension_ids) or "aggregate" not in codebook.levels("reasons"):
        return None
    table = views.reasons_timing_relationship(data, codebook)
    negative = "valence=" + "|".join(views.NEGATIVE_VALENCE)
    phases = [c for c in codebook.code_ids("phase") if f"phase_{c}_n" in table.columns]
    types = [t for t in views.RELATIONSHIP_TYPES if f"rel_{t}_n" in table.columns]
    rows = []
    for record in table.to_dict("records"):
        if record["level"] == "total":
            base: tuple[str, ...] = (negative,)
        else:
            base = (negative, f"reasons={record['code']}")
        rows.append(
            {
                "level": record["level"],
                "code": record["code"] if record["level"] != "total" else "",
                "name": record["name"],
                "timing": record.get("codebook_timing") or "",
                "relationship_types": record.get("codebook_relationship_types") or "",
                "n": Cell(int(record["n"]), base),
                "phases": [Cell(int(record[f"phase_{p}_n"]), (*base, f"phase={p}")) for p in phases],
                "types": [Cell(int(record[f"rel_{t}_n"]), (*base, f"relationship_type={t}")) for t in types],
            }
        )
    return {
        "phases": phases,
        "phase_labels": [code_name(codebook, "phase", p) for p in phases],
        "types": types,
        "rows": rows,
    }


#: Figures of ``analysis.figures`` the dashboards embed (as SVG images, so no markup is inlined).
FIGURES = ("gioia", "table3", "breakdown", "trend", "cooccurrence")


def figure(name: str, data: pd.DataFrame, codebook: Codebook) -> str:
    """One dashboard figure as SVG text (matplotlib, via ``analysis.figures``)."""
    import matplotlib.pyplot as plt

    from covalue.analysis import figures

    if name == "gioia":
        fig = figures.gioia_figure(views.gioia_structure(data, codebook, "reasons"))
    elif name == "table3":
        fig = figures.table3_figure(views.reasons_timing_relationship(data, codebook))
    elif name == "breakdown":
        fig = figures.breakdown_figure(
            views.breakdown(data, codebook, "valence", "source"),
            colours=figures.code_colours(codebook, "valence"),
            title="Valence by source",
        )
    elif name == "trend":
        fig = figures.trend_figure(
            views.trend(data, codebook, "valence", freq="Y"),
            colours=figures.code_colours(codebook, "valence"),
            title="Valence per year",
        )
    elif name == "cooccurrence":
        matrix = views.cooccurrence(data, codebook, "reasons", "resources_lost", level="aggregate")
        labels = {**views.code_names(codebook, "reasons"), **views.code_names(codebook, "resources_lost")}
        fig = figures.cooccurrence_figure(matrix, labels=labels, title="Reasons × resources lost")
    else:
        raise ValueError(f"no figure {name!r} (figures: {', '.join(FIGURES)})")
    try:
        return figures.figure_svg(fig)
    finally:
        plt.close(fig)
