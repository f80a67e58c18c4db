"""`covalue incidents list|show`: look at what was imported."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from covalue.cli.common import DbOption, ProjectOption, console, handle_errors, open_project

app = typer.Typer(help="Browse a project's incidents.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_incidents(
    db: DbOption = None,
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(help="How many to show.", min=1)] = 20,
    offset: Annotated[int, typer.Option(help="How many to skip first.", min=0)] = 0,
    source: Annotated[str | None, typer.Option(help="Only incidents of this source.")] = None,
    width: Annotated[int, typer.Option(help="Characters of text to show.", min=10)] = 90,
) -> None:
    """List incidents in import order, with the start of their text."""
    with open_project(db, project) as (store, info):
        incidents = store.list_incidents(info, limit=limit, offset=offset, source=source)
        total = store.count_incidents(info)
    table = Table("id", "source", "rel.", "date", "text", title=f"{info.name}: {total} incidents")
    for incident in incidents:
        text = " ".join(incident.text.split())
        table.add_row(
            incident.external_id,
            incident.source or "",
            incident.relationship_type or "",
            incident.occurred_at.date().isoformat() if incident.occurred_at else "",
            text if len(text) <= width else text[: width - 1] + "…",
        )
    console.print(table, highlight=False)


@app.command("show")
@handle_errors
def show(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    db: DbOption = None,
    project: ProjectOption = None,
) -> None:
    """Show one incident in full, with its metadata and everyone's codings."""
    with open_project(db, project) as (store, info):
        incident = store.incident(info, incident_id)
        codings = store.codings_of(info, incident_id)
    console.rule(f"[bold]{incident.external_id}[/bold]")
    fields = {
        "source": incident.source,
        "relationship type": incident.relationship_type,
        "channel": incident.channel,
        "date": incident.occurred_at.isoformat() if incident.occurred_at else None,
        "customer": incident.customer_id,
        "thread": f"{incident.thread_id} #{incident.thread_position}" if incident.thread_id else None,
    }
    for name, value in fields.items():
        if value:
            console.print(f"[bold]{name}:[/bold] {value}", highlight=False)
    if incident.metadata:
        console.print(f"[bold]metadata:[/bold] {json.dumps(incident.metadata, ensure_ascii=False)}", highlight=False)
    console.print()
    console.print(incident.text, highlight=False, markup=False)
    if codings:
        with_spans = any(c.span for c in codings)
        table = Table(title="codings")
        table.add_column("coder")
        table.add_column("dimension", no_wrap=True)
        table.add_column("code", no_wrap=True)
        if with_spans:
            table.add_column("span", no_wrap=True)
        table.add_column("conf.", no_wrap=True)
        table.add_column("evidence", ratio=1)
        for coding in codings:
            confidence = f"{coding.confidence:.2f}" if coding.confidence is not None else ""
            quote = " … ".join(" ".join(s.text_of(incident.text).split()) for s in coding.evidence)
            quote = quote if len(quote) <= 80 else quote[:79] + "…"
            span = [f"[{coding.span.start}, {coding.span.end})" if coding.span else ""] if with_spans else []
            table.add_row(coding.coder, coding.dimension, coding.code_id, *span, confidence, quote)
        console.print(table, highlight=False)
