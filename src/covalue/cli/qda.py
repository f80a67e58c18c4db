"""REFI-QDA on the command line: ``covalue export --format qdpx|qdc``, ``covalue import F.qdpx|F.qdc``.

``covalue import`` and ``covalue export`` (in ``data``) hand files with these extensions or
formats to the functions here, which run the exchange and print what it did and, always, the
list of what the REFI-QDA format could not carry: the standard asks programs to warn about
data loss on import and export.
"""

from __future__ import annotations

from pathlib import Path

from covalue.cli.common import console, open_project
from covalue.errors import CovalueError
from covalue.interchange.refi import export_qdc, export_qdpx, import_qdc, import_qdpx
from covalue.interchange.refi.model import ExportReport, ImportReport

QDA_FORMATS = ("qdpx", "qdc")


def qda_format(path: Path, explicit: str | None = None) -> str | None:
    """``qdpx``/``qdc`` when the format or the extension names one, else None (a table format)."""
    if explicit is not None:
        return explicit.lower() if explicit.lower() in QDA_FORMATS else None
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in QDA_FORMATS else None


def export_qda(
    out: Path,
    format: str,
    db: str | None,
    project: str | None,
    coder: str | None = None,
    codebook: str | None = None,
    validate: bool = False,
) -> ExportReport:
    """Export the project (``qdpx``) or one codebook (``qdc``) and print the report."""
    if format not in QDA_FORMATS:
        raise CovalueError(f"unknown REFI-QDA format {format!r}; choose qdpx or qdc")
    with open_project(db, project) as (store, info):
        if format == "qdpx":
            report = export_qdpx(store, info, out, codebook=codebook, coder=coder, validate=validate)
        else:
            report = export_qdc(store, info, out, codebook=codebook, validate=validate)
    _print_export(report)
    return report


def import_qda(
    file: Path,
    db: str | None,
    project: str | None,
    codebook_out: Path | None = None,
    default_coder: str | None = None,
) -> ImportReport:
    """Import a ``.qdpx`` project or a ``.qdc`` codebook into the project and print the report."""
    fmt = qda_format(file)
    with open_project(db, project) as (store, info):
        if fmt == "qdc":
            report = import_qdc(store, info, file, yaml_out=codebook_out)
        elif fmt == "qdpx":
            options = {"default_coder": default_coder} if default_coder else {}
            report = import_qdpx(store, info, file, yaml_out=codebook_out, **options)
        else:
            raise CovalueError(f"{file}: not a REFI-QDA file (expected .qdpx or .qdc)")
    _print_import(report)
    return report


def _print_export(report: ExportReport) -> None:
    if report.format == "qdc":
        console.print(f"Wrote codebook {report.codebook} ({report.codes} codes) to {report.path}.", highlight=False)
    else:
        console.print(
            f"Wrote {report.incidents:,} incidents, "
            f"{report.codes} codes ({report.codebook or 'no codebook'}), "
            f"{report.coders} coder(s) and {report.codings:,} codings to {report.path}.",
            highlight=False,
        )
    _print_list("Not carried by REFI-QDA", report.dropped)


def _print_import(report: ImportReport) -> None:
    if report.format == "qdc":
        console.print(
            f"Attached codebook [bold]{report.codebook}[/bold] ({report.codes} codes, {report.codebook_origin}).",
            highlight=False,
        )
    else:
        console.print(
            f"Imported {report.incidents_added:,} incidents"
            + (f" (and matched {report.incidents_matched:,} existing)" if report.incidents_matched else "")
            + f", {report.codings_added:,} codings by {len(report.coders)} coder(s) "
            f"({', '.join(report.coders) or 'none'}) from {report.file} in {report.seconds:.1f} s.",
            highlight=False,
        )
        if report.codebook:
            console.print(f"Codebook: {report.codebook} ({report.codebook_origin}).", highlight=False)
        if report.codings_already_present:
            console.print(f"{report.codings_already_present:,} codings were already in the project.")
    if report.yaml_path:
        console.print(f"Wrote the codebook as YAML to {report.yaml_path}.", highlight=False)
    _print_list("Notes", report.notes)
    _print_list("Not imported (no covalue counterpart)", report.dropped)


def _print_list(title: str, items: list[str]) -> None:
    if not items:
        return
    console.print(f"[yellow]{title}:[/yellow]", highlight=False)
    for item in items:
        console.print(f"  - {item}", highlight=False, markup=False, soft_wrap=True)
