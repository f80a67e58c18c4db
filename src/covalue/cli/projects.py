"""`covalue init`, `covalue summary`, `covalue example` and `covalue demo`."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from covalue.cli.common import DbOption, console, handle_errors
from covalue.errors import StoreError
from covalue.framework import load_codebook
from covalue.ingest.importer import import_incidents
from covalue.ingest.labels import import_labels
from covalue.model.incident import Coder
from covalue.store import Store
from covalue.store.repository import ProjectInfo

EXAMPLE_PACKAGE = "covalue.data.example"
EXAMPLE_FILES = ("incidents.csv", "labels_gold.csv", "SOURCES.md")


@handle_errors
def init(
    db: DbOption = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Name of the project to create.")] = "default",
    description: Annotated[str | None, typer.Option(help="A line saying what the project is about.")] = None,
    codebook: Annotated[
        str,
        typer.Option(help="Codebook to attach (bundled id or YAML file); other codebooks can be added later."),
    ] = "vcd",
) -> None:
    """Create the database (if needed) and a project in it."""
    store = Store.open(db, create=True)
    try:
        try:
            info = store.create_project(project, description)
            created = True
        except StoreError:
            info = store.project(project)
            created = False
        store.add_codebook(info, load_codebook(codebook))
    finally:
        store.close()
    verb = "Created" if created else "Found existing"
    console.print(
        f"{verb} project [bold]{info.name}[/bold] in {store.engine.url.render_as_string(hide_password=True)}.",
        highlight=False,
        soft_wrap=True,  # file paths and URLs must not be split when the output is piped or logged
    )


@handle_errors
def summary(
    db: DbOption = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project name.")] = None,
) -> None:
    """Print what a project holds: incidents by source and relationship type, codebooks, coders."""
    store = Store.open(db)
    try:
        info = store.project(project)
        print_summary(store, info)
    finally:
        store.close()


def print_summary(store: Store, info: ProjectInfo) -> None:
    facts = store.summary(info)
    console.print(f"[bold]Project {facts['project']}[/bold]: {facts['incidents']:,} incidents", highlight=False)
    if facts["first_date"]:
        console.print(f"Dates: {facts['first_date']:%Y-%m-%d} to {facts['last_date']:%Y-%m-%d}", highlight=False)
    table = Table("source", "incidents", title="By source")
    for name, count in facts["by_source"].items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    table = Table("relationship type", "incidents", title="By relationship type")
    for name, count in facts["by_relationship_type"].items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"Codebooks: {', '.join(facts['codebooks']) or 'none'}", highlight=False)
    if facts["coders"]:
        table = Table("coder", "kind", "incidents coded", "codings", title="Coders")
        for name, row in facts["coders"].items():
            table.add_row(name, row["kind"], f"{row['incidents']:,}", f"{row['codings']:,}")
        console.print(table)
        _print_top_codes(store, info, facts["coders"])


def _print_top_codes(store: Store, info: ProjectInfo, coders: dict) -> None:
    """Most frequent codes per dimension and coder: a first look at the framework in the data."""
    for coder in coders:
        _print_coder_codes(store, info, coder)


def _print_coder_codes(store: Store, info: ProjectInfo, coder: str) -> None:
    for pk, key in store.codebooks(info):
        counts = store.code_counts(info, pk, coder)
        if not counts:
            continue
        _, codebook = store.codebook(info, key)
        table = Table("dimension", "most frequent codes (incidents)", title=f"{coder}'s codes ({key})")
        for dimension in codebook.dimension_ids:
            ranked = sorted(
                ((n, code) for (dim, code), n in counts.items() if dim == dimension),
                key=lambda t: (-t[0], t[1]),
            )
            table.add_row(dimension, ", ".join(f"{code} ({n})" for n, code in ranked[:5]))
        console.print(table, highlight=False)


@handle_errors
def example(
    folder: Annotated[Path, typer.Argument(help="Folder to write the example files into (created if missing).")],
) -> None:
    """Write the bundled example data (real incidents with reference labels) into FOLDER."""
    paths = write_example(folder)
    for path in paths:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


def write_example(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXAMPLE_FILES:
        target = folder / name
        with resources.files(EXAMPLE_PACKAGE).joinpath(name).open("rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        written.append(target)
    return written


@handle_errors
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where to put the example files and database.")] = Path(
        "covalue-example"
    ),
) -> None:
    """Run the main job on the bundled example: write the data, create a project, import, code, summarise."""
    incidents, labels, _ = write_example(folder)
    database = folder / "covalue.db"
    if database.exists():
        database.unlink()
    store = Store.open(str(database), create=True)
    try:
        info = store.create_project("example", "Bundled covalue example: real public service incidents")
        codebook = load_codebook("vcd")
        store.add_codebook(info, codebook)
        report = import_incidents(store, info, incidents)
        console.print(f"Imported {report.imported} incidents from {incidents}.", highlight=False, soft_wrap=True)
        labelled = import_labels(store, info, labels, codebook, Coder(name="gold"))
        console.print(
            f"Imported {labelled.codings} reference codings of {labelled.incidents} incidents (coder 'gold').",
            highlight=False,
        )
        from covalue.coding.training import load_model
        from covalue.engines.local import code_project

        coder = load_model("fast")
        run = code_project(coder, store, info, model="supervised:fast")
        console.print(
            f"Coded {run.incidents} incidents with the bundled fast coder ({run.codings:,} codes with evidence, "
            f"{run.per_second:,.0f} incidents/s) as machine coder {coder.name!r}.",
            highlight=False,
            soft_wrap=True,
        )
        print_summary(store, info)
    finally:
        store.close()
    console.print(f"Database: {database}", highlight=False, soft_wrap=True)
