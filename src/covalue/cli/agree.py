"""`covalue agree` and `covalue consensus`: inter-coder reliability and recording adjudication.

``agree`` compares two or more annotation-guide CSV files (matched by ``item_id``) or two or
more coders stored in a project, and prints a field × statistic table with bootstrap
intervals, or with ``--json`` one JSON object whose shape other tools rely on:
``{"n": …, "fields": {"valence": {"percent_agreement": …, "cohen_kappa": …, …}, …}}``.
``consensus`` stores an adjudicated annotation-guide CSV as the codings of a consensus coder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from covalue.analysis.reliability import (
    LEVELS,
    STATISTICS,
    Agreement,
    FieldReliability,
    ReliabilityReport,
    disagreements,
    record_consensus,
    reliability_from_rows,
    rows_from_store,
    write_disagreements,
)
from covalue.cli.common import DbOption, ProjectOption, console, handle_errors, open_project
from covalue.errors import StoreError
from covalue.framework import load_codebook
from covalue.framework.codebook import Codebook
from covalue.ingest.labels import read_label_csv
from covalue.model.labels import LabelRow
from covalue.store.repository import ProjectInfo, Store

_HEADERS = {
    "percent_agreement": "Po",
    "cohen_kappa": "Cohen κ",
    "fleiss_kappa": "Fleiss κ",
    "krippendorff_alpha": "Kripp. α",
    "brennan_prediger": "BP κn",
    "perreault_leigh": "Ir",
}


@handle_errors
def agree(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Two or more annotation-guide CSV files, matched by item_id. "
            "Omit them to compare coders stored in a project (--coder).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object {n, fields} instead of the table (no intervals)."),
    ] = False,
    db: DbOption = None,
    project: ProjectOption = None,
    coder: Annotated[
        list[str] | None,
        typer.Option("--coder", help="Without files: a stored coder to compare (repeat, two or more)."),
    ] = None,
    codebook: Annotated[
        str, typer.Option(help="Codebook id or YAML file (with stored coders: id or id@version).")
    ] = "vcd",
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for 95% intervals (0 = off).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed: the same seed gives the same intervals.")] = 0,
    level: Annotated[
        str, typer.Option(help="Gioia level of hierarchical fields: theme, or aggregate (reasons R1..R9).")
    ] = "theme",
    disagreements_out: Annotated[
        Path | None,
        typer.Option("--disagreements", help="Write every item and field the coders differ on to this CSV."),
    ] = None,
    codes: Annotated[bool, typer.Option("--codes", help="Table: also list every code of multi-valued fields.")] = False,
) -> None:
    """Inter-coder reliability per field, per code and per Gioia level.

    Reports percent agreement, Cohen's κ (two coders), Fleiss' κ, Krippendorff's α (nominal),
    Brennan–Prediger κn and Perreault–Leigh Ir on the incidents every coder labelled.
    Multi-valued fields are scored as present/absent decisions, pooled and code by code.
    """
    if level not in LEVELS:
        raise typer.BadParameter(f"--level must be one of {', '.join(LEVELS)}", param_hint="--level")
    rows_by_coder, book = _load_rows(files or [], coder or [], db, project, codebook)
    report = reliability_from_rows(
        rows_by_coder, book, level=level, bootstrap=0 if json_output else bootstrap, seed=seed
    )
    if disagreements_out is not None:
        found = disagreements(rows_by_coder, book, fields=report.fields)
        count = write_disagreements(disagreements_out, found, list(rows_by_coder))
        if not json_output:
            console.print(f"Wrote {count:,} disagreements to {disagreements_out}.", highlight=False)
    if json_output:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print_report(report, show_codes=codes)


def _load_rows(
    files: list[Path], coders: list[str], db: str | None, project: str | None, codebook: str
) -> tuple[dict[str, dict[str, LabelRow]], Codebook]:
    """Rows per coder from CSV files, or from a project's stored coders."""
    if files and coders:
        raise typer.BadParameter("give either CSV files or --coder, not both", param_hint="--coder")
    if files:
        if len(files) < 2:
            raise typer.BadParameter("give two or more CSV files to compare", param_hint="FILES")
        book = load_codebook(codebook)
        return {name: read_label_csv(path, book) for name, path in zip(_names(files), files, strict=True)}, book
    if len(coders) < 2:
        raise typer.BadParameter("give two or more CSV files, or two or more --coder", param_hint="--coder")
    with open_project(db, project) as (store, info):
        pk, book = store.codebook(info, codebook)
        return rows_from_store(store, info, pk, coders, book.dimension_ids), book


def _names(files: list[Path]) -> list[str]:
    """Coder names for files: the file stem, the path where stems collide, numbered if still equal."""
    stems = [path.stem for path in files]
    names = [stem if stems.count(stem) == 1 else str(path) for stem, path in zip(stems, files, strict=True)]
    return [name if names.count(name) == 1 else f"{name} ({i})" for i, name in enumerate(names, start=1)]


def _print_report(report: ReliabilityReport, *, show_codes: bool) -> None:
    statistics = [s for s in STATISTICS if s != "cohen_kappa" or len(report.coders) == 2]
    table = Table(
        title=f"Inter-coder reliability ({', '.join(report.coders)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Field\n(units)", overflow="fold")
    for name in statistics:
        table.add_column(_HEADERS[name], justify="right", min_width=8, overflow="fold")
    for name, result in report.fields.items():
        _add_rows(table, name, result, statistics, show_codes)
    console.print(table)
    dropped = ", ".join(f"{coder} {n:,}" for coder, n in report.dropped.items() if n)
    console.print(
        f"n = {report.n:,} incidents coded by all {len(report.coders)} coders"
        + (f" (unmatched, left out: {dropped})" if dropped else "")
        + ". Multi-valued fields: pooled present/absent decisions over all codes (units = decisions); "
        "κn and Ir use the codebook's category count (2 for present/absent).",
        highlight=False,
    )
    if report.n_boot:
        console.print(
            f"Second lines: 95% percentile bootstrap intervals over incidents "
            f"({report.n_boot:,} resamples, seed {report.seed}).",
            highlight=False,
        )


def _add_rows(table: Table, label: str, result: FieldReliability, statistics: list[str], show_codes: bool) -> None:
    suffix = f" ({result.level})" if result.aggregate is not None and result.level else ""
    table.add_row(_label(label + suffix, result.overall), *_cells(result.overall, statistics))
    if show_codes:
        for code, agreement in result.codes.items():
            table.add_row(_label(f"  {code}", agreement), *_cells(agreement, statistics), style="dim")
    if result.aggregate is not None:
        _add_rows(table, f"{label} (aggregate)", result.aggregate, statistics, show_codes)


def _label(label: str, agreement: Agreement) -> Text:
    text = Text(label + "\n")
    text.append(f"  ({agreement.n_units:,})", style="dim")
    return text


def _cells(agreement: Agreement, statistics: list[str]) -> list[str]:
    return [_format(getattr(agreement, name), agreement.intervals.get(name)) for name in statistics]


def _format(value: float, interval: tuple[float, float] | None) -> str:
    """``.734`` over ``.66–.80``: no leading zero (APA style for statistics bounded by 1) keeps
    the table within an 80-column terminal."""
    if math.isnan(value):
        return "—"
    text = _number(value, 3)
    if interval is not None and not math.isnan(interval[0]):
        text += f"\n{_number(interval[0], 2)}–{_number(interval[1], 2)}"
    return text


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    if text.startswith(("0.", "-0.")):
        text = text.replace("0.", ".", 1)
    return text


@handle_errors
def consensus(
    file: Annotated[Path, typer.Argument(help="Annotation-guide CSV of adjudicated decisions (one row per incident).")],
    coder: Annotated[str, typer.Option(help="Name of the consensus coder.")] = "consensus",
    db: DbOption = None,
    project: ProjectOption = None,
    codebook: Annotated[
        str, typer.Option(help="Codebook: id or id@version attached to the project, or a bundled id/YAML.")
    ] = "vcd",
) -> None:
    """Record adjudicated decisions as the codings of a consensus coder.

    Each row replaces that coder's earlier codings of its incident, so adjudication can be
    revised; everything is checked first and written in one transaction.
    """
    with open_project(db, project) as (store, info):
        book = _project_codebook(store, info, codebook)
        decisions = read_label_csv(file, book)
        report = record_consensus(store, info, book, decisions, coder_name=coder)
    console.print(
        f"Recorded {report.codings:,} codings of {report.incidents:,} incidents as coder "
        f"[bold]{report.coder}[/bold] ({report.codebook})"
        + (f", replacing {report.replaced:,} earlier codings" if report.replaced else "")
        + ".",
        highlight=False,
    )


def _project_codebook(store: Store, info: ProjectInfo, key: str) -> Codebook:
    """The project's stored codebook when it has one by that key, else a bundled id or YAML file."""
    try:
        return store.codebook(info, key)[1]
    except StoreError:
        return load_codebook(key)
