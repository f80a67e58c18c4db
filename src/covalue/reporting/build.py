"""What goes into a report: the framework views, recommendations, spirals, examples, reliability.

:func:`build_report` turns one coder's analysis frame (plus, optionally, a reliability report
and recommendations) into a :class:`~covalue.reporting.html.Report` and the dictionary of
tables behind it; :func:`write_report` writes the HTML file, the XLSX workbook, one CSV per
table and every figure as PNG and SVG. Everything shown is an aggregate or a small,
deterministic sample of examples, so the report stays small on big corpora.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from covalue import __version__
from covalue.analysis import figures, spirals, views
from covalue.analysis.recommend import destructive_mask, flat_recommendations, rank_reasons
from covalue.analysis.reliability import Agreement, ReliabilityReport, training_overlap_warning
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook
from covalue.framework.recommendations import RecommendationSet, citations
from covalue.model.incident import Coder
from covalue.reporting.examples import pick_examples
from covalue.reporting.html import Block, Report, Section, render_report, table_html

#: Co-destruction valence codes of the vcd codebook (the default for every view).
NEGATIVE = ("co_destruction", "mixed")
#: How many top codes get example incidents, and how many examples each.
TOP_CODES = 5
EXAMPLES_PER_CODE = 2
_STAT_LABELS = {
    "percent_agreement": "Po",
    "cohen_kappa": "Cohen κ",
    "fleiss_kappa": "Fleiss κ",
    "krippendorff_alpha": "Krippendorff α",
    "brennan_prediger": "Brennan–Prediger κ",
    "perreault_leigh": "Perreault–Leigh Ir",
}


@dataclass
class ReportInputs:
    """Everything a report is made from. ``frame`` is one coder's analysis frame."""

    frame: pd.DataFrame
    codebook: Codebook
    project: str
    coder: Coder
    reliability: ReliabilityReport | None = None
    #: The incidents the reliability report compared, and per machine coder the ids its model was
    #: trained on: agreement on training incidents measures fit, not accuracy, and the report says so.
    reliability_items: frozenset[str] = frozenset()
    training_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    recommendations: RecommendationSet | None = None
    text_of: Callable[[Sequence[str]], Mapping[str, str]] | None = None
    freq: str | None = None  # period of trends: W, M, Q or Y; None picks one from the data's time span
    seed: int = 0


@dataclass
class BuiltReport:
    """A report ready to write: the document, its tables and its figures."""

    report: Report
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure] = field(default_factory=dict)
    svg: dict[str, str] = field(default_factory=dict)  # rendered once, embedded and written as-is


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    workbook: Path
    tables: list[Path]
    figures: list[Path]


# ------------------------------------------------------------------------------------------
# facts about the sample


def _has(codebook: Codebook, dimension: str) -> bool:
    return dimension in codebook.dimension_ids


def _date_range(frame: pd.DataFrame) -> tuple[str, str] | None:
    dates = frame["occurred_at"].dropna()
    if dates.empty:
        return None
    return dates.min().strftime("%Y-%m-%d"), dates.max().strftime("%Y-%m-%d")


def _source_counts(frame: pd.DataFrame) -> pd.Series:
    return (
        frame["source"]
        .fillna("(none)")
        .value_counts()
        .sort_index(kind="stable")
        .sort_values(ascending=False, kind="stable")
    )


def _percent(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value * 100:.1f} %"


def _coder_phrase(coder: Coder) -> str:
    if coder.kind == "machine":
        model = f" ({coder.model}{', version ' + coder.version if coder.version else ''})" if coder.model else ""
        return f"the automatic coder {coder.name!r}{model}"
    return f"coder {coder.name!r}"


# ------------------------------------------------------------------------------------------
# sections


def _overview(inputs: ReportInputs, ranked: pd.DataFrame) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    cards: list[tuple[str, str]] = [("incidents coded", f"{len(frame):,}")]
    if _has(codebook, "valence"):
        shares = frame["valence"].value_counts(normalize=True)
        destructive = destructive_mask(frame, "valence", NEGATIVE).mean() if len(frame) else float("nan")
        cards.append(("co-destruction or mixed", _percent(destructive)))
        cards.append(("co-creation", _percent(float(shares.get("co_creation", 0.0)))))
    sources = _source_counts(frame)
    cards.append(("sources", f"{len(sources):,}"))
    dates = _date_range(frame)
    if dates:
        cards.append(("period", f"{dates[0]} – {dates[1]}"))
    findings = []
    top = ranked[ranked["incidents"] > 0].head(3)
    if not top.empty:
        named = "; ".join(
            f"{row.name} ({row.reason}, {_percent(row.share_of_co_destruction)})" for row in top.itertuples()
        )
        findings.append(f"The reasons behind most co-destruction are: {named} of co-destruction incidents.")
    return Section(
        "overview",
        "Overview",
        f"Project {inputs.project!r}, coded by {_coder_phrase(inputs.coder)} against {codebook.spec.name} "
        f"({codebook.key}).",
        [Block("cards", items=cards), Block("text", items=findings)],
    )


def _fix_first(ranked: pd.DataFrame, recommendations: RecommendationSet | None, codebook: Codebook) -> Section:
    items = []
    for row in ranked.itertuples(index=False):
        if row.incidents == 0:
            continue
        actions = [
            {"title": a.title, "text": a.text, "cites": ", ".join(a.sources) or "covalue"} for a in (row.actions or ())
        ]
        items.append(
            {
                "rank": row.rank,
                "reason": row.reason,
                "name": row.name,
                "incidents": row.incidents,
                "share": row.share_of_co_destruction,
                "actions": actions,
            }
        )
    lead = (
        "Reasons ranked by the share of co-destruction incidents (valence co-destruction or mixed) that name them, "
        "with the actions the source papers propose. An incident can name several reasons."
    )
    blocks = [Block("reasons", items=items)]
    if recommendations is None:
        blocks.append(Block("text", items=["No recommendations are bundled for this codebook."]))
    return Section("fix-first", "What to fix first", lead, blocks)


def _figure_block(built: BuiltReport, name: str, figure: Figure, title: str | None, caption: str | None) -> Block:
    """An embedded figure; it draws its own title, so ``title`` labels it for screen readers only."""
    built.figures[name] = figure
    built.svg[name] = figures.figure_svg(figure)
    return Block("figure", label=title, markup=Markup(built.svg[name]), caption=caption)


def _table_block(built: BuiltReport, name: str, table: pd.DataFrame, title: str | None, caption: str | None) -> Block:
    built.tables[name] = table
    return Block("table", title=title, markup=table_html(table), caption=caption)


def _colours(codebook: Codebook, dimension: str) -> dict[str, str] | None:
    return figures.code_colours(codebook, dimension) or None


def _undated(found: views.Trend) -> str | None:
    return f"{found.undated:,} incidents without a date are left out." if found.undated else None


def _gioia(built: BuiltReport, inputs: ReportInputs) -> Section:
    table = views.gioia_structure(inputs.frame, inputs.codebook, dimension="reasons")
    return Section(
        "gioia",
        "Data structure",
        "First-order concepts, second-order themes and aggregate dimensions of the reasons for value "
        "co-destruction (Gioia method), with the number of incidents at each level. An aggregate counts "
        "incidents with any of its themes, so it is not the sum of its themes.",
        [
            _figure_block(built, "gioia_structure", figures.gioia_figure(table), None, None),
            _table_block(built, "gioia_structure", table, "Table", None),
        ],
    )


def _timing(built: BuiltReport, inputs: ReportInputs) -> Section:
    table = views.reasons_timing_relationship(inputs.frame, inputs.codebook)
    return Section(
        "timing",
        "Reasons × timing × relationship type",
        "Järvi et al.'s (2018) Table 3 rebuilt from the data: each reason's timing and relationship types "
        "as the codebook states them, and how the coded incidents spread over phases and relationship types.",
        [
            _figure_block(built, "reasons_timing_relationship", figures.table3_figure(table), None, None),
            _table_block(built, "reasons_timing_relationship", table, "Table", None),
        ],
    )


#: Dimensions broken down by group and over time, with the Gioia level to count them at.
PROFILE_DIMENSIONS = (
    ("valence", None),
    ("reasons", "aggregate"),
    ("negative_factors", None),
    ("positive_factors", None),
    ("coping", None),
    ("resources_lost", None),
)
#: Of those, the ones drawn as figures per group (the rest are tables in the workbook).
PROFILE_FIGURES = ("valence", "reasons")
GROUPINGS = ("source", "channel", "relationship_type", "segment", "provider")


def _groupings(frame: pd.DataFrame) -> list[str]:
    """Groupings with two or more groups; ``provider`` only when it says more than ``source``."""
    found = [by for by in GROUPINGS if frame[by].nunique(dropna=True) >= 2]
    if "provider" in found and frame["provider"].equals(frame["source"]):
        found.remove("provider")
    return found


def _breakdowns(built: BuiltReport, inputs: ReportInputs) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    blocks: list[Block] = []
    for by in _groupings(frame):
        for dimension, level in PROFILE_DIMENSIONS:
            if not _has(codebook, dimension):
                continue
            table = views.breakdown(frame, codebook, dimension, by, level=level)
            name = f"{dimension}_by_{by}"
            built.tables[name] = table
            if dimension not in PROFILE_FIGURES:
                continue
            title = f"{codebook.dimension(dimension).name} by {by.replace('_', ' ')}"
            figure = figures.breakdown_figure(table, colours=_colours(codebook, dimension), title=title)
            blocks.append(_figure_block(built, name, figure, title, None))
    if not blocks:
        blocks.append(Block("text", items=["The data has a single source, channel and relationship type."]))
    else:
        blocks.append(
            Block("text", items=["The workbook also breaks down factors, coping and resources lost by each grouping."])
        )
    return Section(
        "breakdowns",
        "By source, channel and segment",
        "Shares are of the incidents in each group. Reasons are rolled up to aggregate dimensions.",
        blocks,
    )


#: Periods with fewer incidents than this are left out of trend lines (when the data has enough):
#: a month with two incidents swings between 0 % and 100 % and hides the trend.
MIN_PERIOD_INCIDENTS = 5


_PERIOD_NAMES = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def auto_freq(frame: pd.DataFrame) -> str:
    """Weeks for a few months of data, months up to three years, quarters up to ten, else years."""
    dates = frame["occurred_at"].dropna()
    if dates.empty:
        return "M"
    days = (dates.max() - dates.min()).days
    return "W" if days <= 120 else "M" if days <= 3 * 366 else "Q" if days <= 10 * 366 else "Y"


def _min_period_n(frame: pd.DataFrame) -> int:
    return MIN_PERIOD_INCIDENTS if frame["occurred_at"].notna().sum() >= 20 * MIN_PERIOD_INCIDENTS else 1


def _trends(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    frame, codebook = inputs.frame, inputs.codebook
    freq = inputs.freq or auto_freq(frame)
    if views.periods(frame, freq).nunique() < 2:
        return None
    blocks = []
    for dimension, level in PROFILE_DIMENSIONS:
        if not _has(codebook, dimension):
            continue
        found = views.trend(frame, codebook, dimension, freq=freq, level=level, min_period_n=_min_period_n(frame))
        if found.periods.empty:
            continue
        name = f"trend_{dimension}"
        label = codebook.dimension(dimension).name
        blocks.append(
            _figure_block(
                built,
                name,
                figures.trend_figure(found, colours=_colours(codebook, dimension), title=label),
                label,
                None,
            )
        )
        built.tables[name] = found.periods
        rising = found.summary.sort_values("slope", ascending=False, kind="stable")
        built.tables[f"{name}_summary"] = rising
        blocks.append(Block("table", title=None, markup=table_html(rising, max_rows=10), caption=_undated(found)))
    period = _PERIOD_NAMES.get(freq, "period")
    lead = (
        f"Share of incidents per {period} with each code; {period}s with fewer than {_min_period_n(frame)} "
        "incidents are left out. When sources cover different periods, a trend over all of them mixes a change "
        "of source with change over time: compare within a source."
    )
    return Section("trends", "Trends over time", lead, blocks)


def _relations(built: BuiltReport, inputs: ReportInputs) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    blocks = []
    if _has(codebook, "reasons"):
        table = views.cooccurrence(frame, codebook, "reasons", level="aggregate")
        blocks.append(
            _figure_block(
                built,
                "reasons_cooccurrence",
                figures.cooccurrence_figure(table, title="Reasons named together"),
                "Co-occurrence of reasons",
                "Incidents naming both reasons; the diagonal counts incidents naming each reason.",
            )
        )
        built.tables["reasons_cooccurrence"] = table
        for dimension in ("coping", "resources_lost"):
            if not _has(codebook, dimension):
                continue
            crossed = views.by_reason(frame, codebook, dimension)
            name = f"{dimension}_by_reason"
            blocks.append(
                _figure_block(
                    built,
                    name,
                    figures.by_reason_figure(crossed, title=f"{dimension.replace('_', ' ').capitalize()} by reason"),
                    f"{dimension.replace('_', ' ').capitalize()} by reason",
                    None,
                )
            )
            built.tables[name] = crossed
    return Section("relations", "How codes go together", None, blocks)


def _spiral_cards(summary: spirals.SpiralSummary) -> list[tuple[str, str]]:
    low, high = summary.share_of_losses_ci
    r_low, r_high = summary.recovery_ci
    return [
        ("groups analysed", f"{summary.groups:,}"),
        ("with a primary loss", f"{summary.groups_with_loss:,}"),
        ("loss spirals", f"{summary.spirals:,}"),
        ("spirals among losses", f"{_percent(summary.share_of_losses)} [{low * 100:.0f}–{high * 100:.0f}]"),
        ("escalating coping", f"{summary.escalating:,}"),
        ("recovered after a loss", f"{_percent(summary.recovery_rate)} [{r_low * 100:.0f}–{r_high * 100:.0f}]"),
    ]


def _spirals(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    frame = inputs.frame
    key = spirals.default_group_key(frame)
    if key is None:
        return None
    config = spirals.config_for(frame)
    found = spirals.detect_spirals(frame, inputs.codebook, by=key, config=config)
    if found.empty:
        return None
    summary = spirals.spiral_summary(found)
    built.tables["loss_spirals"] = found
    blocks = [Block("cards", items=_spiral_cards(summary))]
    blocks.append(_table_block(built, "spirals_by_reason", summary.by_reason, "Spirals by triggering reason", None))
    if summary.escalation_paths:
        paths = pd.DataFrame([{"escalation": " → ".join(path), "groups": n} for path, n in summary.escalation_paths])
        blocks.append(_table_block(built, "escalation_paths", paths, "Most frequent escalation paths", None))
    rates = spirals.recovery_rates(found, by="reason")
    blocks.append(_table_block(built, "recovery_by_reason", rates, "Recovery by triggering reason", None))
    if frame["provider"].nunique() > 1:
        by_provider = spirals.recovery_rates(found, by="provider")
        blocks.append(_table_block(built, "recovery_by_provider", by_provider, "Recovery by provider", None))
    blocks.extend(_timeline_blocks(built, frame, inputs.codebook, key))
    unit = key.replace("_id", "").replace("_", " ")
    return Section(
        "spirals",
        "Loss spirals and recovery",
        f"Incidents grouped by {unit} and ordered in time. A loss spiral is a primary loss (the first "
        "co-destruction) followed by a secondary loss (a new resource lost, or more resources lost than before) "
        "or by escalating coping (direct complaint → public complaint → third party → exit); recovery is a "
        "co-creation or mixed outcome after the primary loss. Intervals are Wilson 95 % intervals.",
        blocks,
    )


def _timeline_blocks(built: BuiltReport, frame: pd.DataFrame, codebook: Codebook, key: str) -> list[Block]:
    """The encounter view of the longest group: its incidents on a time line."""
    groups = views.timeline_keys(frame, key)
    if groups.empty:
        return []
    value = groups.iloc[0][key]
    line = views.timeline(frame, key=key, value=value)
    unit = key.replace("_id", "").replace("_", " ")
    built.tables["timeline_groups"] = groups
    return [
        _figure_block(
            built,
            "timeline",
            figures.timeline_figure(line, colours=_colours(codebook, "valence"), title=f"{unit} {value}"),
            "An encounter over time",
            f"The incidents of {unit} {value} in time order, the longest {unit} in the data.",
        )
    ]


def _examples(inputs: ReportInputs) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    blocks = []
    for dimension in ("reasons", "negative_factors", "positive_factors"):
        if not _has(codebook, dimension):
            continue
        counts = frame[dimension].explode().dropna().value_counts()
        order = {c: i for i, c in enumerate(codebook.code_ids(dimension))}
        top = sorted(counts.index, key=lambda c: (-counts[c], order.get(c, 0)))[:TOP_CODES]
        if not top:
            continue
        chosen = pick_examples(
            frame, codebook, dimension, top, per_code=EXAMPLES_PER_CODE, seed=inputs.seed, text_of=inputs.text_of
        )
        blocks.append(Block("examples", title=codebook.dimension(dimension).name, items=chosen))
    return Section(
        "examples",
        "Example incidents",
        "Incidents for the most frequent codes; highlighted passages are the evidence the coder gave for the code.",
        blocks,
    )


def reliability_table(report: ReliabilityReport) -> pd.DataFrame:
    """One row per field (and rolled-up level): every statistic with its bootstrap interval."""
    rows = []
    for name, result in report.fields.items():
        rows.append(_reliability_row(name, result.level, result.overall))
        if result.aggregate is not None:
            rows.append(_reliability_row(name, "aggregate", result.aggregate.overall))
    return pd.DataFrame(rows)


def _reliability_row(name: str, level: str | None, agreement: Agreement) -> dict[str, object]:
    row: dict[str, object] = {"field": name, "level": level or "", "units": agreement.n_units}
    for statistic, value in agreement.statistics().items():
        row[_STAT_LABELS[statistic]] = value
        low, high = agreement.intervals.get(statistic, (math.nan, math.nan))
        row[f"{_STAT_LABELS[statistic]} 95% CI"] = "" if math.isnan(low) else f"[{low:.3f}, {high:.3f}]"
    return row


def _overlap_warning(inputs: ReportInputs) -> str | None:
    return training_overlap_warning(inputs.training_ids, inputs.reliability_items)


def _reliability(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    report = inputs.reliability
    if report is None:
        return None
    table = reliability_table(report)
    coders = ", ".join(report.coders)
    warning = _overlap_warning(inputs)
    return Section(
        "reliability",
        "Inter-coder reliability",
        f"Agreement of {coders} on the {report.n:,} incidents all of them coded. Multi-valued fields are scored "
        f"as present/absent decisions per code, pooled; reasons at the {report.level} level and rolled up to "
        f"aggregate dimensions. Intervals: {report.n_boot:,} bootstrap resamples of incidents (seed {report.seed}).",
        [
            *([Block("warning", items=[warning])] if warning else []),
            _table_block(built, "reliability", table, None, None),
        ],
    )


def methods_paragraphs(inputs: ReportInputs) -> list[str]:
    """The methods text a paper needs: sample, coders, codebook, agreement."""
    frame, codebook = inputs.frame, inputs.codebook
    sources = _source_counts(frame)
    listed = ", ".join(f"{name} ({n:,})" for name, n in sources.items())
    dates = _date_range(frame)
    period = f", dated {dates[0]} to {dates[1]}" if dates else ""
    paragraphs = [
        f"The sample comprises {len(frame):,} incidents from {len(sources)} source(s): {listed}{period}. "
        f"They were coded by {_coder_phrase(inputs.coder)} against the codebook {codebook.spec.name!r} "
        f"({codebook.key}), whose dimensions are {', '.join(codebook.dimension_ids)}.",
        "Reasons for value co-destruction are counted at the level of the aggregate dimensions of the Gioia "
        "structure unless stated otherwise; an incident counts once per reason it names. Co-destruction means "
        "a valence of co-destruction or mixed.",
    ]
    report = inputs.reliability
    if report is not None:
        parts = []
        for name in ("valence", "reasons"):
            result = report.fields.get(name)
            if result is None:
                continue
            agreement = result.aggregate.overall if result.aggregate is not None else result.overall
            level = " (aggregate level, pooled present/absent decisions)" if result.multi else ""
            parts.append(f"{name}{level}: {_agreement_phrase(agreement)}")
        paragraphs.append(
            f"Reliability was assessed on the {report.n:,} incidents coded by all of {', '.join(report.coders)}. "
            + "; ".join(parts)
            + f". Intervals are 95 % percentile bootstrap intervals over {report.n_boot:,} resamples of incidents."
        )
        warning = _overlap_warning(inputs)
        if warning:
            paragraphs.append(warning)
    paragraphs.append(
        f"Analyses were made with covalue {__version__}; the same data, codebook and seed give the same report."
    )
    return paragraphs


def _agreement_phrase(agreement: Agreement) -> str:
    values = agreement.statistics()
    pieces = []
    for statistic in ("percent_agreement", "cohen_kappa", "krippendorff_alpha"):
        if statistic not in values:
            continue
        low, high = agreement.intervals.get(statistic, (math.nan, math.nan))
        interval = "" if math.isnan(low) else f" [{low:.2f}, {high:.2f}]"
        pieces.append(f"{_STAT_LABELS[statistic]} = {values[statistic]:.2f}{interval}")
    return ", ".join(pieces)


def _methods(inputs: ReportInputs, ranked: pd.DataFrame) -> Section:
    refs: dict[str, str] = {s.id: s.citation for s in inputs.codebook.spec.sources}
    if inputs.recommendations is not None:
        refs.update(citations(inputs.recommendations, inputs.codebook))
    return Section(
        "methods",
        "Methods and sources",
        None,
        [Block("methods", items=methods_paragraphs(inputs)), Block("references", items=sorted(refs.values()))],
    )


# ------------------------------------------------------------------------------------------
# assembling and writing


def build_report(inputs: ReportInputs) -> BuiltReport:
    """The report document and every table and figure behind it."""
    codebook = inputs.codebook
    report = Report(
        title=f"Value co-creation and co-destruction: {inputs.project}",
        subtitle=f"{len(inputs.frame):,} incidents · codebook {codebook.key} · coder {inputs.coder.name}",
        version=__version__,
        codebook=codebook.key,
        footer="self-contained: no external resources",
    )
    built = BuiltReport(report=report, tables={})
    has_reasons = _has(codebook, "reasons") and _has(codebook, "valence")
    ranked = rank_reasons(inputs.frame, codebook, inputs.recommendations) if has_reasons else pd.DataFrame()
    if has_reasons:
        built.tables["recommendations"] = flat_recommendations(ranked)
    sections: list[Section | None] = [_overview(inputs, ranked)] if has_reasons else []
    if has_reasons:
        sections += [
            _fix_first(ranked, inputs.recommendations, codebook),
            _gioia(built, inputs),
            _timing(built, inputs),
        ]
    sections += [
        _breakdowns(built, inputs),
        _trends(built, inputs),
        _relations(built, inputs) if has_reasons else None,
        _spirals(built, inputs) if has_reasons else None,
        _examples(inputs),
        _reliability(built, inputs),
        _methods(inputs, ranked),
    ]
    report.sections = [s for s in sections if s is not None and s.blocks]
    return built


def write_report(built: BuiltReport, out_dir: str | Path) -> ReportFiles:
    """``report.html``, ``tables.xlsx``, ``tables/*.csv`` and ``figures/*.png|svg`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / "report.html"
    with atomic_path(html_path) as tmp:
        tmp.write_text(render_report(built.report), encoding="utf-8")
    workbook = out / "tables.xlsx"
    # an absolute workbook path puts the workbook beside report.html instead of inside tables/
    written = views.write_tables(built.tables, out / "tables", workbook=str(workbook.resolve()))
    written.remove(workbook.resolve())
    figure_paths: list[Path] = []
    for name, figure in built.figures.items():
        png, svg = out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"
        with atomic_path(png, make_parents=True) as tmp:
            tmp.write_bytes(figures.figure_png(figure))
        with atomic_path(svg) as tmp:
            tmp.write_text(built.svg[name], encoding="utf-8")
        figure_paths += [png, svg]
    return ReportFiles(html=html_path, workbook=workbook, tables=list(written), figures=figure_paths)
