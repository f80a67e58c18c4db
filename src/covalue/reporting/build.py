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
from covalue.analysis.reliability import Agreement, ReliabilityReport
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
    recommendations: RecommendationSet | None = None
    text_of: Callable[[Sequence[str]], Mapping[str, str]] | None = None
    freq: str = "M"
    seed: int = 0


@dataclass
class BuiltReport:
    """A report ready to write: the document, its tables and its figures."""

    report: Report
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure] = field(default_factory=dict)


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


def _figure_block(
    built: BuiltReport, name: str, make: Callable[[], Figure], title: str | None, caption: str | None
) -> Block:
    figure = make()
    built.figures[name] = figure
    return Block("figure", title=title, markup=Markup(figures.figure_svg(figure)), caption=caption)


def _table_block(built: BuiltReport, name: str, table: pd.DataFrame, title: str | None, caption: str | None) -> Block:
    built.tables[name] = table
    return Block("table", title=title, markup=table_html(table), caption=caption)


def _gioia(built: BuiltReport, inputs: ReportInputs) -> Section:
    table = views.gioia_structure(inputs.frame, inputs.codebook, dimension="reasons")
    return Section(
        "gioia",
        "Data structure",
        "First-order concepts, second-order themes and aggregate dimensions of the reasons for value "
        "co-destruction (Gioia method), with the number of incidents at each level. An aggregate counts "
        "incidents with any of its themes, so it is not the sum of its themes.",
        [
            _figure_block(built, "gioia_structure", lambda: figures.gioia_figure(table), None, None),
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
            _figure_block(built, "reasons_timing_relationship", lambda: figures.table3_figure(table), None, None),
            _table_block(built, "reasons_timing_relationship", table, "Table", None),
        ],
    )


def _breakdowns(built: BuiltReport, inputs: ReportInputs) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    blocks: list[Block] = []
    for by in ("source", "channel", "relationship_type", "segment", "provider"):
        if frame[by].nunique(dropna=True) < 2:
            continue
        for dimension, level in (("valence", None), ("reasons", "aggregate")):
            if not _has(codebook, dimension):
                continue
            table = views.breakdown(frame, codebook, dimension, by, level=level)
            name = f"{dimension}_by_{by}"
            blocks.append(
                _figure_block(
                    built,
                    name,
                    lambda t=table, d=dimension, b=by: figures.breakdown_figure(t, title=f"{d} by {b}"),
                    f"{dimension.capitalize()} by {by.replace('_', ' ')}",
                    None,
                )
            )
            built.tables[name] = table
    if not blocks:
        blocks.append(Block("text", items=["The data has a single source, channel and relationship type."]))
    return Section(
        "breakdowns",
        "By source, channel and segment",
        "Shares are of the incidents in each group. Reasons are rolled up to aggregate dimensions.",
        blocks,
    )


def _trends(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    frame, codebook = inputs.frame, inputs.codebook
    if frame["occurred_at"].dropna().dt.to_period(inputs.freq).nunique() < 2:
        return None
    blocks = []
    for dimension, level in (
        ("valence", None),
        ("reasons", "aggregate"),
        ("coping", None),
        ("resources_lost", None),
        ("negative_factors", None),
        ("positive_factors", None),
    ):
        if not _has(codebook, dimension):
            continue
        table = views.trend(frame, codebook, dimension, freq=inputs.freq, level=level)
        name = f"trend_{dimension}"
        blocks.append(
            _figure_block(
                built,
                name,
                lambda t=table, d=dimension: figures.trend_figure(t, title=f"{d} over time"),
                dimension.replace("_", " ").capitalize(),
                None,
            )
        )
        built.tables[name] = table
    return Section("trends", "Trends over time", "Share of incidents per period with each code.", blocks)


def _relations(built: BuiltReport, inputs: ReportInputs) -> Section:
    frame, codebook = inputs.frame, inputs.codebook
    blocks = []
    if _has(codebook, "reasons"):
        table = views.cooccurrence(frame, codebook, "reasons", level="aggregate")
        blocks.append(
            _figure_block(
                built,
                "reasons_cooccurrence",
                lambda: figures.cooccurrence_figure(table, title="Reasons named together"),
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
                    lambda t=crossed, d=dimension: figures.by_reason_figure(t, title=f"{d} by reason"),
                    f"{dimension.replace('_', ' ').capitalize()} by reason",
                    None,
                )
            )
            built.tables[name] = crossed
    return Section("relations", "How codes go together", None, blocks)


def _spirals(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    frame = inputs.frame
    for key in ("thread_id", "customer_id"):
        sizes = frame[key].dropna().value_counts()
        if (sizes >= 2).any():
            break
    else:
        return None
    found = spirals.detect_spirals(frame, inputs.codebook, by=key)
    summary = spirals.spiral_summary(found)
    built.tables["loss_spirals"] = found
    rates = spirals.recovery_rates(found, by="reason")
    built.tables["recovery_by_reason"] = rates
    blocks = [
        Block("cards", items=[(k.replace("_", " "), _summary_value(v)) for k, v in summary.items() if _scalar(v)]),
        _table_block(built, "recovery_by_reason", rates, "Recovery by triggering reason", None),
    ]
    if "provider" in frame.columns and frame["provider"].nunique() > 1:
        by_provider = spirals.recovery_rates(found, by="provider")
        blocks.append(_table_block(built, "recovery_by_provider", by_provider, "Recovery by provider", None))
    group = views.timeline_keys(frame, key).head(1)
    if not group.empty:
        value = group.iloc[0][key]
        line = views.timeline(frame, key=key, value=value)
        blocks.append(
            _figure_block(
                built,
                "timeline",
                lambda: figures.timeline_figure(line, title=f"{key.replace('_', ' ')} {value}"),
                "An encounter over time",
                f"The incidents of {key.replace('_', ' ')} {value!s} in time order.",
            )
        )
    return Section(
        "spirals",
        "Loss spirals and recovery",
        f"Incidents grouped by {key.replace('_', ' ')} and ordered in time: a primary loss followed by new or "
        "growing losses or by escalating coping is a loss spiral; co-destruction followed by co-creation or a mixed "
        "outcome is a recovery.",
        blocks,
    )


def _scalar(value: object) -> bool:
    return isinstance(value, int | float | str)


def _summary_value(value: object) -> str:
    if isinstance(value, float):
        return _percent(value) if 0.0 <= value <= 1.0 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


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


def _reliability(built: BuiltReport, inputs: ReportInputs) -> Section | None:
    report = inputs.reliability
    if report is None:
        return None
    table = reliability_table(report)
    coders = ", ".join(report.coders)
    return Section(
        "reliability",
        "Inter-coder reliability",
        f"Agreement of {coders} on the {report.n:,} incidents all of them coded. Multi-valued fields are scored "
        f"as present/absent decisions per code, pooled; reasons at the {report.level} level and rolled up to "
        f"aggregate dimensions. Intervals: {report.n_boot:,} bootstrap resamples of incidents (seed {report.seed}).",
        [_table_block(built, "reliability", table, None, None)],
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
    written = views.write_tables(built.tables, out / "tables")
    workbook = out / "tables.xlsx"
    figure_paths: list[Path] = []
    for name, figure in built.figures.items():
        figure_paths.extend(figures.save_figure(figure, out / "figures" / name))
    return ReportFiles(html=html_path, workbook=workbook, tables=list(written), figures=figure_paths)
