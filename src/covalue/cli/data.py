"""`covalue import` and `covalue export`: move incidents and codings in and out of a project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from covalue.cli.common import DbOption, ProjectOption, console, handle_errors, is_interactive, open_project
from covalue.cli.qda import export_qda, import_qda, qda_format
from covalue.errors import CovalueError
from covalue.framework import load_codebook
from covalue.ingest.importer import ImportOptions, ImportReport, import_incidents
from covalue.ingest.labels import import_labels
from covalue.interchange.tables import FORMATS, export_codings, export_incidents
from covalue.model.incident import Coder


def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="CSV/TSV, JSONL, Parquet, XLSX, a folder of .txt files, or REFI-QDA .qdpx/.qdc."),
    ],
    db: DbOption = None,
    project: ProjectOption = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="csv, tsv, jsonl, parquet, xlsx or folder (default: by extension)."),
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the incident text.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column holding a unique incident id.")] = None,
    source_column: Annotated[str | None, typer.Option(help="Column naming the data source.")] = None,
    relationship_column: Annotated[str | None, typer.Option(help="Column with B2C/B2B/B2G/G2C.")] = None,
    channel_column: Annotated[str | None, typer.Option(help="Column naming the channel.")] = None,
    date_column: Annotated[str | None, typer.Option(help="Column with the incident's date.")] = None,
    customer_column: Annotated[str | None, typer.Option(help="Column with a customer/relationship id.")] = None,
    thread_column: Annotated[str | None, typer.Option(help="Column with a thread/conversation id.")] = None,
    position_column: Annotated[str | None, typer.Option(help="Column with the position in the thread.")] = None,
    metadata_column: Annotated[
        list[str] | None,
        typer.Option("--metadata-column", help="Keep only these columns as metadata (repeat; default: all others)."),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Source name for every incident of the file.")] = None,
    relationship_type: Annotated[
        str | None, typer.Option(help="Relationship type for every incident: B2C, B2B, B2G or G2C.")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Channel for every incident (e.g. twitter, email).")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/TSV/JSONL/.txt input.")] = "utf-8",
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet (default: the first).")] = None,
    day_first: Annotated[
        bool, typer.Option("--day-first", help="Read dates like 03/04/2021 as day/month/year (UK/EU).")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip bad rows and report them instead of stopping.")
    ] = False,
    max_text_chars: Annotated[int, typer.Option(help="Longest text accepted, in characters.", min=1)] = 100_000,
    labels: Annotated[
        bool,
        typer.Option("--labels", help="The file holds reference labels (annotation-guide CSV), not incidents."),
    ] = False,
    coder: Annotated[str, typer.Option(help="With --labels: the coder the labels belong to.")] = "gold",
    codebook: Annotated[str, typer.Option(help="With --labels: codebook id or YAML file.")] = "vcd",
    replace: Annotated[
        bool, typer.Option("--replace", help="With --labels: overwrite the coder's earlier codings.")
    ] = False,
    codebook_out: Annotated[
        Path | None,
        typer.Option("--codebook-out", help="With a .qdpx/.qdc file: also write its codebook as YAML."),
    ] = None,
) -> None:
    """Import incidents (or, with --labels, reference codings) into a project.

    The import is all-or-nothing: the first bad row stops it with the file, line and field,
    and nothing is written. With --skip-bad, bad rows are skipped and listed instead.
    """
    if qda_format(file) is not None:  # REFI-QDA project or codebook (cli/qda.py)
        import_qda(file, db, project, codebook_out=codebook_out)
        return
    with open_project(db, project) as (store, info):
        if labels:
            report = import_labels(
                store,
                info,
                file,
                load_codebook(codebook),
                Coder(name=coder),
                replace=replace,
                skip_bad=skip_bad,
            )
            console.print(
                f"Imported {report.codings} codings of {report.incidents} incidents as coder "
                f"[bold]{report.coder}[/bold] ({report.codebook}; {', '.join(report.dimensions)})"
                + (f", replacing {report.replaced} earlier codings" if report.replaced else "")
                + f" in {report.seconds:.1f} s.",
                highlight=False,
                soft_wrap=True,
            )
            _print_problems(report.skipped, report.problems)
            return
        columns = {
            key: value
            for key, value in {
                "text": text_column,
                "id": id_column,
                "source": source_column,
                "relationship_type": relationship_column,
                "channel": channel_column,
                "date": date_column,
                "customer_id": customer_column,
                "thread_id": thread_column,
                "thread_position": position_column,
            }.items()
            if value
        }
        constants = {
            key: value
            for key, value in {
                "source": source,
                "relationship_type": relationship_type,
                "channel": channel,
            }.items()
            if value
        }
        options = ImportOptions(
            format=format,
            columns=columns,
            metadata=metadata_column,
            constants=constants,
            encoding=encoding,
            delimiter=delimiter,
            sheet=sheet,
            skip_bad=skip_bad,
            max_text_chars=max_text_chars,
            day_first=day_first,
        )
        result = _run_import(store, info, file, options)
    _print_report(result)


def _run_import(store, info, file: Path, options: ImportOptions) -> ImportReport:
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not is_interactive(),
    ) as progress:
        task = progress.add_task(f"Importing {file.name}", total=None)
        return import_incidents(store, info, file, options, lambda n: progress.update(task, completed=n))


def _print_report(report: ImportReport) -> None:
    mapping = report.mapping
    mapped = ", ".join(
        f"{name}={column!r}"
        for name, column in (
            ("text", mapping.text),
            ("id", mapping.id),
            ("source", mapping.source),
            ("relationship_type", mapping.relationship_type),
            ("channel", mapping.channel),
            ("date", mapping.date),
            ("customer_id", mapping.customer_id),
            ("thread_id", mapping.thread_id),
            ("thread_position", mapping.thread_position),
        )
        if column
    )
    console.print(
        f"Imported {report.imported:,} incidents from {report.file} ({report.format}) "
        f"in {report.seconds:.1f} s"
        f" ({report.rows_per_second:,.0f} rows/s).",
        highlight=False,
        soft_wrap=True,  # file paths must not be split when the output is piped or logged
    )
    console.print(f"Columns: {mapped}", highlight=False, soft_wrap=True)
    _print_problems(report.skipped, report.problems)


def _print_problems(skipped: int, problems: list) -> None:
    if not skipped:
        return
    console.print(f"[yellow]Skipped {skipped:,} bad rows[/yellow] (--skip-bad):", highlight=False)
    for problem in problems[:20]:
        console.print(f"  {problem.to_error()}", highlight=False, markup=False, soft_wrap=True)
    if skipped > 20:
        console.print(f"  … and {skipped - 20:,} more (all listed in the project's import log).", highlight=False)


def export_command(
    out: Annotated[Path, typer.Argument(help="Output file; its extension picks the format unless --format is given.")],
    what: Annotated[str, typer.Option("--what", help="incidents or codings.")] = "incidents",
    db: DbOption = None,
    project: ProjectOption = None,
    format: Annotated[
        str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)}, qdpx or qdc (REFI-QDA).")
    ] = None,
    coder: Annotated[str | None, typer.Option(help="Only this coder's codings.")] = None,
    codebook: Annotated[str | None, typer.Option(help="Only codings under this codebook (id or id@version).")] = None,
    layout: Annotated[
        str,
        typer.Option(help="Codings: 'long' (one row per coding) or 'guide' (annotation-guide CSV, one coder)."),
    ] = "long",
) -> None:
    """Export incidents or codings to CSV, Parquet or JSON Lines, or the project to REFI-QDA (.qdpx/.qdc)."""
    qda = qda_format(out, format)
    if qda is not None:  # REFI-QDA project or codebook (cli/qda.py)
        export_qda(out, qda, db, project, coder=coder, codebook=codebook)
        return
    if what not in {"incidents", "codings"}:
        raise typer.BadParameter("--what must be 'incidents' or 'codings'")
    if layout not in {"long", "guide"}:
        raise typer.BadParameter("--layout must be 'long' or 'guide'")
    with open_project(db, project) as (store, info):
        if what == "incidents":
            count = export_incidents(store, info, out, format)
        else:
            stored = store.codebook(info, codebook) if codebook else None
            if layout == "guide" and stored is None:
                keys = store.codebooks(info)
                if len(keys) != 1:
                    raise CovalueError("the guide layout needs --codebook when the project has several codebooks")
                stored = store.codebook(info, keys[0][1])
            count = export_codings(store, info, out, format, coder=coder, codebook=stored, layout=layout)
    console.print(
        f"Wrote {count:,} {'rows' if what == 'codings' else 'incidents'} to {out}.",
        highlight=False,
        soft_wrap=True,
    )


export_command = handle_errors(export_command)
import_command = handle_errors(import_command)
