"""`covalue report` (a stored project) and `covalue analyze` (the one-shot main job on a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from covalue.cli.common import DbOption, ProjectOption, console, handle_errors, open_project

BootstrapOption = Annotated[int, typer.Option(help="Bootstrap resamples for agreement intervals (0: none).", min=0)]
SeedOption = Annotated[int, typer.Option(help="Seed for bootstrap and example choice.")]


def _say(message: str) -> None:
    console.print(message, highlight=False, soft_wrap=True)


def _print_files(files) -> None:
    _say(f"Report:   {files.html}")
    _say(f"Workbook: {files.workbook}")
    _say(f"Tables:   {len(files.tables)} CSV files in {files.html.parent / 'tables'}")
    _say(f"Figures:  {len(files.figures)} PNG/SVG files in {files.html.parent / 'figures'}")


@handle_errors
def report(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, tables.xlsx, tables/ and figures/.")
    ] = Path("covalue-report"),
    coder: Annotated[
        str | None,
        typer.Option(help="Coder whose codes the report describes (default: consensus, else the machine coder)."),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(help="Coders to state agreement with (repeatable; default: every other coder)."),
    ] = None,
    codebook: Annotated[str | None, typer.Option(help="Codebook id@version (default: the project's only one).")] = None,
    bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    db: DbOption = None,
    project: ProjectOption = None,
) -> None:
    """Write the HTML report and XLSX workbook of a coded project."""
    from covalue.reporting.jobs import project_report

    with open_project(db, project) as (store, info):
        files = project_report(
            store, info, out, coder=coder, codebook_key=codebook, compare=compare, bootstrap=bootstrap, seed=seed
        )
    _print_files(files)


@handle_errors
def analyze(
    input: Annotated[Path, typer.Argument(help="A file of incidents (CSV, TSV, JSONL, Parquet, XLSX or a folder).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (database, codings, report).")] = Path(
        "covalue-analysis"
    ),
    labels: Annotated[
        Path | None,
        typer.Option(help="Reference codes (annotation-guide CSV): the report states the coder's agreement."),
    ] = None,
    model: Annotated[str, typer.Option(help="Bundled coder: fast or accurate.")] = "fast",
    text_column: Annotated[str | None, typer.Option(help="Column with the text (default: detected).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column with the id (default: detected).")] = None,
    bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
) -> None:
    """Import, code and report in one go: the main job. Re-running on the same --out resumes."""
    from covalue.reporting.jobs import analyze_file

    columns = {k: v for k, v in {"text": text_column, "id": id_column}.items() if v}
    result = analyze_file(
        input, out, labels=labels, model=model, columns=columns, bootstrap=bootstrap, seed=seed, say=_say
    )
    _say(f"Database: {result.database} ({result.incidents:,} incidents)")
    _say(f"Codings:  {result.codings}")
    _print_files(result.report)
