"""Figures of the framework views, for the HTML report, the workbench and papers.

Each function takes the table a view in :mod:`covalue.analysis.views` returns and gives back a
``matplotlib.figure.Figure``. Figures are built on ``Figure`` objects directly, never through
the pyplot state machine, so they work in servers and threads without a display and leave no global state behind.
Saving is deterministic (fixed SVG hash salt, no timestamps in metadata): the same table gives
byte-identical SVG, so reports can be diffed and cached.

Colours: pass ``colours`` (code id to ``#rrggbb``; :func:`code_colours` reads the codebook's
own code colours) to keep a code's colour the same in every figure; codes without one get a
fixed palette colour.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, TwoSlopeNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from covalue.analysis.views import NO_CODE, PHASE_PREFIX, RELATIONSHIP_PREFIX, Trend
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook

#: Resolution of saved PNGs: sharp on screens and in print-preview, small enough to embed.
PNG_DPI = 150
_FONT = 9
_SMALL = 8
_TITLE = 12
_INK = "#222222"
_MUTED = "#6B7280"
_GRID = "#E5E7EB"
_NONE_COLOUR = "#C8CDD3"
_FRAME = "#E8890C"
_SVG_RC = {"svg.hashsalt": "covalue", "svg.fonttype": "none"}
_SVG_METADATA = {"Date": None, "Creator": "covalue"}
_PNG_METADATA = {"Software": None}


# -- colours and labels -----------------------------------------------------------------------


def code_colours(codebook: Codebook, dimension: str) -> dict[str, str]:
    """The colours the codebook gives a dimension's codes (codes without one are left out)."""
    return {c.id: c.code.colour for c in codebook.codes(dimension) if c.code.colour}


def _palette(n: int) -> list[tuple[float, float, float]]:
    """A fixed qualitative palette (tab10, then tab20's light tones) cycled as needed."""
    base = list(matplotlib.colormaps["tab10"].colors) + list(matplotlib.colormaps["tab20"].colors[1::2])
    return [tuple(base[i % len(base)]) for i in range(n)]


def _colours_for(codes: Sequence[str], colours: Mapping[str, str] | None) -> dict[str, Any]:
    colours = colours or {}
    fallback = iter(_palette(len(codes)))
    chosen: dict[str, Any] = {}
    for code in codes:
        if code == NO_CODE:
            chosen[code] = _NONE_COLOUR
        elif code in colours:
            chosen[code] = colours[code]
        else:
            chosen[code] = next(fallback)
    return chosen


def _tint(colour: Any, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white: 0 is white, 1 the colour itself (light box fills)."""
    r, g, b = to_rgb(colour)
    return (1 - amount + amount * r, 1 - amount + amount * g, 1 - amount + amount * b)


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _label(code: str, name: str | None, width: int = 44) -> str:
    """Short ids (R4.2) keep their id in front of the name, which readers of the paper know them by."""
    if not name or name == code:
        return _clip(_pretty(code), width)
    return _clip(f"{code} {name}" if _is_short_id(code) else name, width)


def _is_short_id(code: str) -> bool:
    """Ids like R4.2 that readers know from the literature, as opposed to word ids like ``seek_redress``."""
    return len(code) <= 8 and any(ch.isdigit() for ch in code)


def _pretty(value: str) -> str:
    return str(value).replace("_", " ")


def _percent(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.0%}"


def _style_axes(ax: Axes, *, grid_axis: Literal["x", "y", "both"] | None = "x") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_MUTED)
    ax.tick_params(colors=_INK, labelsize=_SMALL)
    if grid_axis:
        ax.grid(axis=grid_axis, color=_GRID, linewidth=0.8)
        ax.set_axisbelow(True)


def _title(fig: Figure, title: str) -> None:
    fig.suptitle(title, fontsize=_TITLE, fontweight="bold", color=_INK, x=0.01, ha="left")


def _empty_figure(title: str, message: str) -> Figure:
    """A small figure saying there is nothing to draw, rather than an error in the middle of a report."""
    fig = Figure(figsize=(7, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=_FONT, color=_MUTED)
    _title(fig, title)
    return fig


# -- saving -----------------------------------------------------------------------------------


def freeze_layout(fig: Figure) -> Figure:
    """Run the figure's layout engine once and fix the result.

    Constrained layout starts from the current positions on every draw, so a figure saved twice
    (or as PNG, then SVG) would come out slightly different each time. Saving freezes the layout
    at the first save, which makes every later save of the figure byte-identical.
    """
    engine = fig.get_layout_engine()
    if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
    return fig


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text with real ``<text>`` labels (searchable, small) and stable ids."""
    freeze_layout(fig)
    buffer = io.StringIO()
    with matplotlib.rc_context(_SVG_RC):
        fig.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    return buffer.getvalue()


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """The figure as PNG bytes without a software/version stamp."""
    freeze_layout(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata=_PNG_METADATA, facecolor="white")
    return buffer.getvalue()


def figure_png_data_uri(fig: Figure, dpi: int = PNG_DPI) -> str:
    """A ``data:image/png;base64,...`` URI, to inline the figure in a single-file HTML report."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig, dpi)).decode("ascii")


def save_figure(fig: Figure, stem: str | Path, *, dpi: int = PNG_DPI) -> tuple[Path, Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` atomically (folders created); returns both paths."""
    stem = Path(stem)
    png_path, svg_path = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    png, svg = figure_png(fig, dpi), figure_svg(fig)
    with atomic_path(png_path, make_parents=True) as tmp:
        tmp.write_bytes(png)
    with atomic_path(svg_path, make_parents=True) as tmp:
        tmp.write_text(svg, encoding="utf-8")
    return png_path, svg_path


# -- Gioia data structure ---------------------------------------------------------------------

_GIOIA_FONT = 8.5
_GIOIA_LINE_INCHES = _GIOIA_FONT * 1.5 / 72
_GIOIA_WIDTH = 13.0
_GIOIA_COLUMNS = {"concept": (0.01, 0.39), "theme": (0.44, 0.72), "aggregate": (0.77, 0.99)}
_GIOIA_WRAP = {"concept": 72, "theme": 54, "aggregate": 32}
_GIOIA_TOP = 3.2
_GIOIA_BOTTOM = 1.0
_BOX_PAD = 0.45
_THEME_GAP = 0.55
_AGGREGATE_GAP = 1.4


def gioia_figure(
    table: pd.DataFrame,
    *,
    max_cues: int = 3,
    colours: Mapping[str, str] | None = None,
    title: str = "Data structure",
) -> Figure:
    """The three-column Gioia figure: first-order concepts → second-order themes → aggregate dimensions.

    ``table`` is :func:`~covalue.analysis.views.gioia_structure`'s output. Each theme shows its
    ``max_cues`` concepts with the most incidents (codebook order on ties) and how many more
    there are, so the figure stays readable for 24 themes. Cues no incident contains are grey, and
    themes no incident was coded with are grey and dashed: a data structure should show what the
    data did not bear out as plainly as what it did.
    """
    if table.empty:
        return _empty_figure(title, "No themes to show.")
    groups = _gioia_groups(table, max_cues)
    body = sum(g["height"] for g in groups) + _AGGREGATE_GAP * (len(groups) - 1)
    height_units = _GIOIA_TOP + body + _GIOIA_BOTTOM
    fig = Figure(figsize=(_GIOIA_WIDTH, height_units * _GIOIA_LINE_INCHES))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(height_units, 0)
    ax.axis("off")
    ax.text(0.01, 0.4, title, fontsize=_TITLE, fontweight="bold", color=_INK, va="top")
    cue_source = table["concept_source"].dropna()
    from_cues = cue_source.empty or (cue_source == "codebook_cue").all()
    cue_note = " (codebook cues; theme incidents containing the cue)" if from_cues else ""
    headers = {
        "concept": f"First-order concepts{cue_note}",
        "theme": "Second-order themes (incidents)",
        "aggregate": "Aggregate dimensions (incidents)",
    }
    for column, text in headers.items():
        left, _ = _GIOIA_COLUMNS[column]
        ax.text(left, 2.1, text, fontsize=_GIOIA_FONT + 0.5, fontweight="bold", color=_INK, va="bottom")
    palette = _colours_for([g["aggregate"] for g in groups], colours)
    y = _GIOIA_TOP
    for group in groups:
        _draw_gioia_group(ax, group, y, palette[group["aggregate"]])
        y += group["height"] + _AGGREGATE_GAP
    return fig


def _gioia_groups(table: pd.DataFrame, max_cues: int) -> list[dict[str, Any]]:
    """Wrapped text and heights (in text lines) of every aggregate and its theme blocks."""
    groups: list[dict[str, Any]] = []
    for aggregate, rows in table.groupby("aggregate", sort=False, dropna=False):
        first = rows.iloc[0]
        aggregate_id = aggregate if isinstance(aggregate, str) else "(no aggregate)"
        name = first["aggregate_name"] if isinstance(first["aggregate_name"], str) else aggregate_id
        aggregate_lines = [*_wrap(f"{aggregate_id} {name}", _GIOIA_WRAP["aggregate"]), f"n = {first['aggregate_n']}"]
        themes = [_gioia_theme(theme_rows, max_cues) for _, theme_rows in rows.groupby("theme", sort=False)]
        themes_height = sum(t["height"] for t in themes) + _THEME_GAP * (len(themes) - 1)
        aggregate_height = len(aggregate_lines) + 2 * _BOX_PAD
        groups.append(
            {
                "aggregate": aggregate_id,
                "n": int(first["aggregate_n"]),
                "lines": aggregate_lines,
                "themes": themes,
                "themes_height": themes_height,
                "height": max(themes_height, aggregate_height),
            }
        )
    return groups


def _gioia_theme(rows: pd.DataFrame, max_cues: int) -> dict[str, Any]:
    first = rows.iloc[0]
    concepts = rows.dropna(subset=["concept"])
    ranked = concepts.assign(_rank=concepts["concept_n"].fillna(-1).astype(int)).sort_values(
        "_rank", ascending=False, kind="stable"
    )
    shown = ranked.head(max_cues)
    concept_lines: list[tuple[str, bool]] = []
    for concept, n in zip(shown["concept"], shown["concept_n"], strict=True):
        count = "" if pd.isna(n) else f" ({int(n)})"
        text = f"“{concept}”" if first["concept_source"] == "codebook_cue" else str(concept)
        wrapped = _wrap(text + count, _GIOIA_WRAP["concept"] - 2)
        unseen = not pd.isna(n) and int(n) == 0
        concept_lines += [(("• " if i == 0 else "   ") + line, unseen) for i, line in enumerate(wrapped)]
    hidden = len(concepts) - len(shown)
    if hidden > 0:
        concept_lines.append((f"   + {hidden} more", True))
    if not concept_lines:
        concept_lines.append(("(no first-order concepts)", True))
    theme_lines = _wrap(f"{first['theme']} {first['theme_name']}", _GIOIA_WRAP["theme"])
    theme_lines.append(f"n = {int(first['theme_n'])}")
    height = max(len(concept_lines), len(theme_lines)) + 2 * _BOX_PAD
    return {"concepts": concept_lines, "lines": theme_lines, "n": int(first["theme_n"]), "height": height}


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(" ".join(str(text).split()), width=width, break_long_words=True) or [""]


def _draw_gioia_group(ax: Axes, group: dict[str, Any], top: float, colour: Any) -> None:
    """Theme blocks (concepts box, theme box) stacked from ``top``, the aggregate box centred beside them."""
    y = top + (group["height"] - group["themes_height"]) / 2
    theme_anchors = []
    for theme in group["themes"]:
        empty = theme["n"] == 0
        centre = y + theme["height"] / 2
        _gioia_box(ax, "concept", y, theme["height"], theme["concepts"], edge="#9CA3AF", fill="white")
        _gioia_box(
            ax,
            "theme",
            y,
            theme["height"],
            [(line, empty) for line in theme["lines"]],
            edge=_MUTED if empty else colour,
            fill="#F7F7F7" if empty else _tint(colour, 0.16),
            dashed=empty,
        )
        ax.plot([_GIOIA_COLUMNS["concept"][1], _GIOIA_COLUMNS["theme"][0]], [centre, centre], color="#9CA3AF", lw=0.9)
        theme_anchors.append((centre, empty))
        y += theme["height"] + _THEME_GAP
    aggregate_height = len(group["lines"]) + 2 * _BOX_PAD
    aggregate_top = top + (group["height"] - aggregate_height) / 2
    empty_aggregate = group["n"] == 0
    lines = [(line, empty_aggregate) for line in group["lines"]]
    _gioia_box(
        ax,
        "aggregate",
        aggregate_top,
        aggregate_height,
        lines,
        edge=_MUTED if empty_aggregate else colour,
        fill="#F7F7F7" if empty_aggregate else _tint(colour, 0.38),
        bold=True,
        dashed=empty_aggregate,
    )
    aggregate_centre = aggregate_top + aggregate_height / 2
    for centre, empty in theme_anchors:
        ax.plot(
            [_GIOIA_COLUMNS["theme"][1], _GIOIA_COLUMNS["aggregate"][0]],
            [centre, aggregate_centre],
            color=_MUTED if empty else colour,
            lw=0.9,
            ls=(0, (3, 2)) if empty else "-",
        )


def _gioia_box(
    ax: Axes,
    column: str,
    top: float,
    height: float,
    lines: Sequence[tuple[str, bool]],
    *,
    edge: Any,
    fill: Any,
    bold: bool = False,
    dashed: bool = False,
) -> None:
    """A box in a figure column with its lines vertically centred; muted lines are grey and italic."""
    left, right = _GIOIA_COLUMNS[column]
    ax.add_patch(
        Rectangle(
            (left, top),
            right - left,
            height,
            facecolor=fill,
            edgecolor=edge,
            linewidth=1.0,
            linestyle=(0, (3, 2)) if dashed else "-",
        )
    )
    first_line = top + (height - len(lines)) / 2 + 0.5
    for index, (line, muted) in enumerate(lines):
        ax.text(
            left + 0.008,
            first_line + index,
            line,
            fontsize=_GIOIA_FONT,
            va="center",
            ha="left",
            color=_MUTED if muted else _INK,
            fontstyle="italic" if muted else "normal",
            fontweight="bold" if bold and not muted and index < len(lines) - 1 else "normal",
        )


# -- Table 3: reasons by phase and relationship type ------------------------------------------


def table3_figure(
    table: pd.DataFrame,
    *,
    drop_empty: bool = True,
    title: str = "Reasons for value co-destruction by phase and relationship type",
) -> Figure:
    """Two heatmaps of :func:`~covalue.analysis.views.reasons_timing_relationship`: reasons × observed
    phase and reasons × relationship type, each cell the reason's incidents there (count and row share).

    Each panel ends in a ``codebook`` column with what Järvi et al. (2018, Table 3) report for the
    reason ("any" for time- or relationship-type-independent), and the cells the codebook names are
    framed, so observed and reported timing can be compared at a glance.
    """
    rows = table[table["n"] > 0] if drop_empty else table
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return _empty_figure(title, "No co-destruction incidents with reasons.")
    panels = [
        (_block_columns(rows, PHASE_PREFIX), PHASE_PREFIX, "Observed phase", "codebook_timing"),
        (
            _block_columns(rows, RELATIONSHIP_PREFIX),
            RELATIONSHIP_PREFIX,
            "Relationship type",
            "codebook_relationship_types",
        ),
    ]
    panels = [p for p in panels if p[0]]
    widths = [len(p[0]) + 1.3 for p in panels]
    fig = Figure(figsize=(4.4 + 0.95 * sum(widths), 1.7 + 0.3 * len(rows)), layout="constrained")
    axes = fig.subplots(1, len(panels), gridspec_kw={"width_ratios": widths}, sharey=True, squeeze=False)[0]
    image = None
    for ax, (columns, prefix, heading, codebook_column) in zip(axes, panels, strict=True):
        reported = [_reported(text) for text in rows[codebook_column]]
        image = _table3_panel(ax, rows, columns, prefix, reported)
        ax.set_title(heading, fontsize=_FONT, fontweight="bold", color=_INK, pad=8)
    axes[0].set_yticks(range(len(rows)), [_table3_label(r) for _, r in rows.iterrows()], fontsize=_SMALL)
    for tick, level in zip(axes[0].get_yticklabels(), rows["level"], strict=True):
        tick.set_fontweight("bold" if level in ("aggregate", "total") else "normal")
    bar = fig.colorbar(image, ax=list(axes), shrink=0.6, pad=0.02, aspect=30)
    bar.set_label("share of the reason's incidents", fontsize=_SMALL)
    bar.ax.tick_params(labelsize=_SMALL)
    _title(fig, title)
    fig.supxlabel(
        "Cells: incidents (share of the row's incidents). Framed cells and the codebook column: what the codebook"
        " reports (Järvi et al. 2018, Table 3).",
        fontsize=_SMALL - 0.5,
        color=_MUTED,
        x=0.01,
        ha="left",
    )
    return fig


def _table3_panel(
    ax: Axes, rows: pd.DataFrame, columns: Sequence[str], prefix: str, reported: Sequence[set[str] | None]
) -> Any:
    """One heatmap block plus a grey ``codebook`` column; frames the cells the codebook reports."""
    counts = rows[[f"{prefix}{c}_n" for c in columns]].to_numpy(dtype=float)
    shares = rows[[f"{prefix}{c}_share" for c in columns]].to_numpy(dtype=float)
    padded_counts = np.column_stack([counts, np.zeros(len(rows))])
    padded_shares = np.column_stack([shares, np.full(len(rows), np.nan)])
    image = _heatmap(
        ax, padded_shares, padded_counts, Normalize(0, 1), "Blues", lambda n, s: f"{int(n)} ({_percent(s)})"
    )
    for text in [t for t in ax.texts if t.get_position()[0] == len(columns)]:
        text.remove()
    for row, values in enumerate(reported):
        summary = "–" if values is None else ("any" if not values else ", ".join(_pretty(v) for v in sorted(values)))
        ax.text(len(columns), row, _clip(summary, 18), ha="center", va="center", fontsize=_SMALL - 0.5, color=_MUTED)
        for col, column in enumerate(columns):
            if values and column in values:
                ax.add_patch(
                    Rectangle((col - 0.44, row - 0.4), 0.88, 0.8, fill=False, edgecolor=_FRAME, linewidth=1.6, zorder=3)
                )
    ax.set_xticks(range(len(columns) + 1), [_pretty(c) for c in columns] + ["codebook"], fontsize=_SMALL)
    ax.get_xticklabels()[-1].set_color(_MUTED)
    ax.xaxis.tick_top()
    return image


def _reported(text: Any) -> set[str] | None:
    """The codebook's timing or relationship types of a row: None if it gives none, an empty set for "any"."""
    values = {v.strip() for v in str(text or "").split(";") if v.strip()} if isinstance(text, str) else set()
    if not values:
        return None
    return set() if values & {"time_independent", "RI"} else values


def _block_columns(table: pd.DataFrame, prefix: str) -> list[str]:
    return [c[len(prefix) : -len("_n")] for c in table.columns if c.startswith(prefix) and c.endswith("_n")]


def _table3_label(row: pd.Series) -> str:
    if row["level"] == "total":
        return f"{row['name']} (n={row['n']})"
    indent = "    " if row["level"] not in ("aggregate", "total") else ""
    label = _clip(f"{row['code']} {row['name']}", 46)
    return f"{indent}{label} (n={row['n']})"


def _heatmap(
    ax: Axes,
    values: np.ndarray,
    counts: np.ndarray,
    norm: Normalize,
    cmap: str,
    fmt: Any,
) -> Any:
    """A heatmap with a cell label from ``fmt(count, value)``, text colour chosen for contrast."""
    masked = np.ma.masked_invalid(values)
    colour_map = matplotlib.colormaps[cmap].with_extremes(bad="#F3F4F6")
    image = ax.imshow(masked, cmap=colour_map, norm=norm, aspect="auto", interpolation="nearest")
    for (row, col), value in np.ndenumerate(values):
        text = fmt(counts[row, col], value)
        dark = not np.isnan(value) and _is_dark(colour_map(norm(value)))
        ax.text(col, row, text, ha="center", va="center", fontsize=_SMALL - 0.5, color="white" if dark else _INK)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.2)
    ax.tick_params(which="minor", length=0)
    return image


def _is_dark(colour: Any) -> bool:
    """Whether white text reads better than dark text on ``colour`` (relative luminance below 0.45)."""
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45


# -- breakdowns -------------------------------------------------------------------------------


def breakdown_figure(
    table: pd.DataFrame,
    *,
    kind: Literal["auto", "stacked", "grouped"] = "auto",
    values: Literal["share", "n"] = "share",
    colours: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Bars of :func:`~covalue.analysis.views.breakdown`: one bar per group, stacked by code, or grouped.

    ``auto`` stacks when each group's shares add up to one (a single-valued dimension such as
    valence, where stacked shares are a composition) and groups otherwise (a multi-valued
    dimension, whose shares overlap and must not be stacked). Codes no incident has are left out.
    """
    by = str(table.columns[0])
    title = title or f"Codes by {_pretty(by)}"
    if table.empty or table["n"].sum() == 0:
        return _empty_figure(title, "No coded incidents.")
    totals = table.groupby(by, sort=False)["share"].sum()
    if kind == "auto":
        kind = "stacked" if np.allclose(totals.fillna(1).to_numpy(), 1.0) else "grouped"
    used = table.groupby("code", sort=False)["n"].sum()
    codes = [c for c in used.index if used[c] > 0 and not (kind == "grouped" and c == NO_CODE)]
    groups = list(dict.fromkeys(table[by]))
    wide = table.pivot(index=by, columns="code", values=values).reindex(index=groups, columns=codes).fillna(0)
    names = dict(zip(table["code"], table["name"], strict=False))
    group_n = table.drop_duplicates(by).set_index(by)["group_n"]
    group_labels = [f"{_clip(g, 30)} (n={int(group_n[g])})" for g in groups]
    axis_label = "share of the group's incidents" if values == "share" else "incidents"
    if kind == "stacked":
        return _stacked_bars(wide, group_labels, names, _colours_for(codes, colours), axis_label, title, values)
    return _grouped_bars(wide, groups, group_labels, names, axis_label, title, values)


def _stacked_bars(
    wide: pd.DataFrame,
    group_labels: Sequence[str],
    names: Mapping[str, str],
    palette: Mapping[str, Any],
    axis_label: str,
    title: str,
    values: str,
) -> Figure:
    fig = Figure(figsize=(10, 1.9 + 0.42 * len(group_labels)), layout="constrained")
    ax = fig.add_subplot()
    left = np.zeros(len(wide))
    positions = np.arange(len(wide))
    for code in wide.columns:
        widths = wide[code].to_numpy(dtype=float)
        ax.barh(positions, widths, left=left, color=palette[code], label=_label(code, names.get(code)), height=0.66)
        for y, (start, width) in enumerate(zip(left, widths, strict=True)):
            if values == "share" and width >= 0.07:
                colour = "white" if _is_dark(palette[code]) else _INK
                ax.text(
                    start + width / 2, y, f"{width:.0%}", ha="center", va="center", fontsize=_SMALL - 0.5, color=colour
                )
        left += widths
    ax.set_yticks(positions, group_labels, fontsize=_SMALL)
    ax.invert_yaxis()
    ax.set_xlabel(axis_label, fontsize=_SMALL)
    if values == "share":
        ax.set_xlim(0, max(1.0, float(left.max())))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    _style_axes(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_SMALL, frameon=False)
    _title(fig, title)
    return fig


def _grouped_bars(
    wide: pd.DataFrame,
    groups: Sequence[str],
    group_labels: Sequence[str],
    names: Mapping[str, str],
    axis_label: str,
    title: str,
    values: str,
) -> Figure:
    codes = list(wide.columns)
    bar = 0.8 / max(len(groups), 1)
    fig = Figure(figsize=(10, 1.6 + len(codes) * (0.1 + 0.11 * len(groups))), layout="constrained")
    ax = fig.add_subplot()
    palette = _palette(len(groups))
    positions = np.arange(len(codes))
    for index, (group, label) in enumerate(zip(groups, group_labels, strict=True)):
        offsets = positions - 0.4 + bar * (index + 0.5)
        ax.barh(offsets, wide.loc[group].to_numpy(dtype=float), height=bar * 0.92, color=palette[index], label=label)
    ax.set_yticks(positions, [_label(c, names.get(c)) for c in codes], fontsize=_SMALL)
    ax.invert_yaxis()
    ax.set_xlabel(axis_label, fontsize=_SMALL)
    if values == "share":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    _style_axes(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_SMALL, frameon=False)
    _title(fig, title)
    return fig


# -- trends -----------------------------------------------------------------------------------


def trend_figure(
    trend: Trend,
    *,
    codes: Sequence[str] | None = None,
    top: int = 6,
    colours: Mapping[str, str] | None = None,
    title: str = "Share of incidents per period",
) -> Figure:
    """Lines of each code's share per period (the ``top`` codes by incidents unless ``codes`` is given),
    above bars of the incidents per period, since a share of a thin period deserves less trust.
    The legend tells each code's direction and fitted change per period."""
    periods = trend.periods
    if periods.empty:
        return _empty_figure(title, "No dated incidents.")
    summary = trend.summary.set_index("code")
    if codes is None:
        candidates = summary[(summary["n"] > 0) & (summary.index != NO_CODE)]
        codes = list(candidates.sort_values("n", ascending=False, kind="stable").index[:top])
    palette = _colours_for(list(codes), colours)
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    lines_ax, count_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3.2, 1]})
    biggest = max(int(periods["period_n"].max()), 1)
    for code in codes:
        series = periods[periods["code"] == code]
        info = summary.loc[code]
        arrow = {"rising": "↑", "falling": "↓", "flat": "→"}.get(info["direction"], "")
        slope = "" if np.isnan(info["slope"]) else f"  {arrow} {abs(info['slope']) * 100:.1f} pp per period"
        label = f"{_label(code, info['name'], 40)}{slope}"
        lines_ax.plot(series["period_start"], series["share"], linewidth=1.5, color=palette[code], label=label)
        sizes = 6 + 60 * np.sqrt(series["period_n"].to_numpy(dtype=float) / biggest)
        lines_ax.scatter(
            series["period_start"],
            series["share"],
            s=sizes,
            color=palette[code],
            zorder=3,
            edgecolor="white",
            linewidth=0.5,
        )
    lines_ax.set_ylabel("share of the period's incidents", fontsize=_SMALL)
    lines_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    lines_ax.set_ylim(bottom=0)
    _style_axes(lines_ax, grid_axis="y")
    lines_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_SMALL, frameon=False)
    per_period = periods.drop_duplicates("period")
    width = _bar_width_days(per_period["period_start"])
    count_ax.bar(per_period["period_start"], per_period["period_n"], width=width, color="#9CA3AF")
    count_ax.set_ylabel("incidents", fontsize=_SMALL)
    _style_axes(count_ax, grid_axis="y")
    note = "Marker area grows with the period's incidents."
    if trend.undated:
        note += f" {trend.undated} undated incidents left out."
    count_ax.set_xlabel(note, fontsize=_SMALL - 0.5, color=_MUTED)
    _title(fig, title)
    return fig


def _bar_width_days(starts: pd.Series) -> float:
    """Bar width of a period bar: 80 % of the smallest gap between periods, in days (matplotlib dates)."""
    values = np.sort(pd.to_datetime(starts).to_numpy(dtype="datetime64[s]").astype(np.int64))
    gaps = np.diff(values) / 86400
    return float(0.8 * gaps.min()) if len(gaps) and gaps.min() > 0 else 20.0


# -- co-occurrence and codes by reason --------------------------------------------------------


def cooccurrence_figure(
    matrix: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    drop_empty: bool = True,
    title: str | None = None,
) -> Figure:
    """A heatmap of :func:`~covalue.analysis.views.cooccurrence` with the value in every cell.

    ``labels`` maps code ids to display names (:func:`~covalue.analysis.views.code_names`). Counts
    are shaded from zero; lift is shaded around 1 (blue: less often than chance, red: more). In a
    code-by-itself matrix the diagonal (each code's own count) is grey and left out of the shading,
    which would otherwise be spent on it. Codes that never occur are left out unless ``drop_empty``
    is False.
    """
    rows_name, columns_name = matrix.index.name or "codes", matrix.columns.name or "codes"
    title = title or f"Co-occurrence: {_pretty(rows_name)} × {_pretty(columns_name)}"
    data = matrix
    if drop_empty:
        filled = data.fillna(0) != 0
        data = data.loc[filled.any(axis=1), filled.any(axis=0)]
    if data.empty:
        return _empty_figure(title, "No codes co-occur.")
    values = data.to_numpy(dtype=float)
    diagonal = np.array([[r == c for c in data.columns] for r in data.index]) if rows_name == columns_name else None
    shaded = np.where(diagonal, np.nan, values) if diagonal is not None else values
    is_count = bool(np.allclose(np.nan_to_num(values), np.round(np.nan_to_num(values))) and np.nanmax(values) > 1)
    norm, cmap, fmt, legend = _cooccurrence_scale(shaded, is_count)
    fig = Figure(figsize=(3.8 + 0.55 * values.shape[1], 2.6 + 0.36 * values.shape[0]), layout="constrained")
    ax = fig.add_subplot()
    image = _heatmap(ax, shaded, values, norm, cmap, fmt)
    if diagonal is not None:
        for row, col in zip(*np.nonzero(diagonal), strict=True):
            ax.text(
                col,
                row,
                fmt(values[row, col], values[row, col]),
                ha="center",
                va="center",
                fontsize=_SMALL - 0.5,
                fontweight="bold",
                color=_INK,
            )
    labels = labels or {}
    column_labels = [c if _is_short_id(c) else _label(c, labels.get(c), 30) for c in data.columns]
    ax.set_xticks(
        range(values.shape[1]), column_labels, fontsize=_SMALL, rotation=40, ha="right", rotation_mode="anchor"
    )
    ax.set_yticks(range(values.shape[0]), [_label(c, labels.get(c), 40) for c in data.index], fontsize=_SMALL)
    ax.set_xlabel(_pretty(columns_name), fontsize=_SMALL)
    ax.set_ylabel(_pretty(rows_name), fontsize=_SMALL)
    bar = fig.colorbar(image, ax=ax, shrink=0.7, aspect=30)
    bar.ax.tick_params(labelsize=_SMALL)
    bar.set_label(legend, fontsize=_SMALL)
    _title(fig, title)
    return fig


def _cooccurrence_scale(values: np.ndarray, is_count: bool) -> tuple[Normalize, str, Any, str]:
    """Colour scale, colour map, cell format and legend for counts, lift or Jaccard values."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    if is_count:
        return Normalize(0, max(top, 1.0)), "Blues", _format_count, "incidents with both codes"
    number = _format_number
    if top > 1 or (finite.size and finite.min() < 0):
        return TwoSlopeNorm(1.0, 0.0, max(top, 2.0)), "RdBu_r", number, "lift (1 = as often as chance)"
    return Normalize(0, 1), "Blues", number, "Jaccard index"


def _format_count(count: float, value: float) -> str:
    """A count, or nothing for a cell left out of the shading (drawn separately)."""
    return "" if np.isnan(value) else f"{int(count)}"


def _format_number(count: float, value: float) -> str:
    return "" if np.isnan(value) else f"{value:.2f}"


def by_reason_figure(
    table: pd.DataFrame,
    *,
    drop_empty: bool = True,
    title: str | None = None,
) -> Figure:
    """A heatmap of :func:`~covalue.analysis.views.by_reason`: reasons as rows, codes as columns,
    shaded by row share and labelled with the incident count and share."""
    title = title or "Codes by reason"
    data = table
    if drop_empty:
        data = data[data["reason_n"] > 0]
        used = data.groupby("code", sort=False)["n"].sum()
        data = data[data["code"].map(used) > 0]
    if data.empty:
        return _empty_figure(title, "No incidents with reasons.")
    reasons = list(dict.fromkeys(data["reason"]))
    codes = list(dict.fromkeys(data["code"]))
    shares = data.pivot(index="reason", columns="code", values="share").reindex(index=reasons, columns=codes)
    counts = data.pivot(index="reason", columns="code", values="n").reindex(index=reasons, columns=codes)
    first = data.drop_duplicates("reason").set_index("reason")
    names = dict(zip(data["code"], data["name"], strict=False))
    fig = Figure(figsize=(4.6 + 0.9 * len(codes), 2.4 + 0.4 * len(reasons)), layout="constrained")
    ax = fig.add_subplot()
    image = _heatmap(
        ax,
        shares.to_numpy(dtype=float),
        counts.fillna(0).to_numpy(dtype=float),
        Normalize(0, 1),
        "Purples",
        lambda n, s: f"{int(n)}\n{_percent(s)}",
    )
    ax.set_xticks(range(len(codes)), [_wrap_label(_pretty(names.get(c, c)), 16) for c in codes], fontsize=_SMALL)
    ax.xaxis.tick_top()
    ax.set_yticks(
        range(len(reasons)),
        [f"{_label(r, first.at[r, 'reason_name'], 40)} (n={int(first.at[r, 'reason_n'])})" for r in reasons],
        fontsize=_SMALL,
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.7, aspect=30)
    bar.set_label("share of the reason's incidents", fontsize=_SMALL)
    bar.ax.tick_params(labelsize=_SMALL)
    _title(fig, title)
    return fig


def _wrap_label(text: str, width: int) -> str:
    return "\n".join(_wrap(text, width)[:3])


# -- timeline ---------------------------------------------------------------------------------


def timeline_figure(
    table: pd.DataFrame,
    *,
    colour_dimension: str = "valence",
    label_dimensions: Sequence[str] = ("reasons", "coping"),
    colours: Mapping[str, str] | None = None,
    title: str = "Incidents over time",
) -> Figure:
    """The incidents of one thread or customer (:func:`~covalue.analysis.views.timeline`) on a time axis.

    One row per incident, top to bottom in time order, its marker at its date (position in the
    thread when undated) and coloured by ``colour_dimension`` (pass the codebook's valence colours
    through ``colours``); the codes of ``label_dimensions`` are written beside each row, so labels
    never collide however close the dates are.
    """
    if table.empty:
        return _empty_figure(title, "No incidents in this group.")
    dated = table["occurred_at"].notna().all()
    x = table["occurred_at"] if dated else table["step"]
    y = np.arange(len(table))
    values = table[colour_dimension] if colour_dimension in table.columns else pd.Series([None] * len(table))
    observed = [str(v) for v in dict.fromkeys(values) if v is not None and not (isinstance(v, float) and np.isnan(v))]
    palette = _colours_for(observed, colours)
    fig = Figure(figsize=(11, 1.9 + 0.42 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(x, y, color="#D1D5DB", linewidth=1.2, zorder=1)
    for value in observed:
        mask = (values.astype(object) == value).to_numpy()
        ax.scatter(
            np.asarray(x)[mask],
            y[mask],
            s=70,
            color=palette[value],
            zorder=2,
            label=_pretty(value),
            edgecolor="white",
            linewidth=0.8,
        )
    ax.set_yticks(y, [_timeline_label(row, label_dimensions) for _, row in table.iterrows()], fontsize=_SMALL)
    ax.yaxis.tick_right()
    ax.invert_yaxis()
    ax.set_ylim(len(table) - 0.4, -0.6)
    ax.set_xlabel("date (UTC)" if dated else "position in thread", fontsize=_SMALL)
    if dated:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        _pad_time_axis(ax, table["occurred_at"])
    _style_axes(ax, grid_axis="x")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if observed:
        ax.legend(
            title=_pretty(colour_dimension),
            loc="upper left",
            bbox_to_anchor=(0.0, -0.14 if dated else -0.1),
            ncols=min(len(observed), 4),
            fontsize=_SMALL,
            title_fontsize=_SMALL,
            frameon=False,
        )
    _title(fig, title)
    return fig


def _timeline_label(row: pd.Series, dimensions: Sequence[str]) -> str:
    parts = [f"{row['step']}. {_clip(row['item_id'], 28)}"]
    for dimension in dimensions:
        if dimension not in row.index:
            continue
        value = row[dimension]
        codes = [str(v) for v in value] if isinstance(value, tuple | list) else ([] if value is None else [str(value)])
        if codes:
            shown = ", ".join(c if _is_short_id(c) else _pretty(c) for c in codes)
            parts.append(f"{_pretty(dimension)}: {_clip(shown, 48)}")
    return "   ".join(parts)


def _pad_time_axis(ax: Axes, times: pd.Series) -> None:
    """Widen a time axis whose incidents share one instant, which matplotlib cannot scale."""
    first, last = times.min(), times.max()
    span = last - first
    pad = span * 0.06 if span > pd.Timedelta(0) else pd.Timedelta(hours=1)
    ax.set_xlim(first - pad, last + pad)
