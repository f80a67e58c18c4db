"""Render a report to one self-contained HTML file: inline CSS, figures embedded, no requests.

The report is a list of sections of typed blocks (cards, text, figure, table, reasons,
examples, references) so that what goes into a report (``build.py``) is decided apart from
how it looks (the Jinja2 template and CSS beside this module). Jinja2 autoescaping is on:
data values are escaped; only figures (SVG made by matplotlib here), tables built by
:func:`table_html` and highlighted examples are passed as markup.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup, escape

_TEMPLATES = "covalue.reporting.templates"


@dataclass
class Block:
    """One piece of a section; ``kind`` picks how the template draws it."""

    kind: str
    title: str | None = None
    label: str | None = None  # accessible name of a figure that draws its own title
    markup: Markup | None = None
    caption: str | None = None
    items: Sequence[Any] = ()


@dataclass
class Section:
    id: str
    title: str
    lead: str | None = None
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    version: str
    codebook: str
    footer: str
    sections: list[Section] = field(default_factory=list)


def _format_cell(value: Any, column: str, percent_columns: set[str]) -> tuple[str, bool]:
    """Text of a cell and whether it is numeric (right-aligned)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}", True
    if isinstance(value, numbers.Real):
        if column in percent_columns:
            return f"{float(value) * 100:.1f} %", True
        return f"{float(value):.3f}", True
    if isinstance(value, tuple | list | set | frozenset):
        return "; ".join(str(v) for v in value), False
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M"), False
    return str(value), False


def share_columns(frame: pd.DataFrame) -> set[str]:
    """Columns holding shares (0–1) by naming convention: they print as percentages."""
    return {
        str(c)
        for c in frame.columns
        if "share" in str(c) or str(c).endswith("_rate") or str(c) in {"rate", "ci_low", "ci_high"}
    }


def table_html(
    frame: pd.DataFrame,
    *,
    percent_columns: Iterable[str] | None = None,
    max_rows: int = 200,
    index: bool = False,
) -> Markup:
    """An escaped HTML table of ``frame`` (first ``max_rows`` rows, with a note when cut)."""
    shown = frame.reset_index() if index else frame
    percents = set(percent_columns) if percent_columns is not None else share_columns(shown)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for values in shown.head(max_rows).itertuples(index=False, name=None):
        cells = []
        for column, value in zip(shown.columns, values, strict=True):
            text, numeric = _format_cell(value, str(column), percents)
            cells.append(f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cut = ""
    if len(shown) > max_rows:
        more = f"… {len(shown) - max_rows:,} more rows in the workbook"
        cut = f'<tr><td colspan="{len(shown.columns)}" class="note">{more}</td></tr>'
    return Markup(f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}{cut}</tbody></table>')


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("covalue.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(report: Report) -> str:
    """The report as one HTML document (a string)."""
    css = resources.files(_TEMPLATES).joinpath("report.css").read_text(encoding="utf-8")
    template = _environment().get_template("report.html.j2")
    return template.render(report=report, css=Markup(css))
