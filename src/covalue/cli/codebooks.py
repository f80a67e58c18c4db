"""`covalue codebook list|show|validate`: read and check frameworks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from covalue.cli.common import console, err_console, handle_errors
from covalue.errors import CodebookError
from covalue.framework import Codebook, bundled_codebook_ids, load_codebook

app = typer.Typer(help="List, show and validate codebooks (frameworks as YAML).", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_codebooks() -> None:
    """List the codebooks bundled with covalue."""
    table = Table("id", "version", "name", "dimensions", "codable codes")
    for codebook_id in bundled_codebook_ids():
        codebook = load_codebook(codebook_id)
        codable = sum(1 for c in codebook.all_codes() if c.codable)
        table.add_row(codebook.id, codebook.version, codebook.spec.name, str(len(codebook.dimensions)), str(codable))
    console.print(table)


@app.command("show")
@handle_errors
def show(
    codebook: Annotated[str, typer.Argument(help="A bundled codebook id (e.g. vcd) or a YAML file.")],
    dimension: Annotated[str | None, typer.Option("--dimension", "-d", help="Show only this dimension.")] = None,
    details: Annotated[bool, typer.Option("--details", help="Also print definitions and indicators.")] = False,
) -> None:
    """Show a codebook's dimensions and code hierarchy."""
    loaded = load_codebook(codebook)
    console.print(f"[bold]{loaded.spec.name}[/bold]  ({loaded.key})", highlight=False)
    console.print(loaded.spec.description, highlight=False)
    dimensions = [loaded.dimension(dimension)] if dimension else list(loaded.dimensions)
    for dim in dimensions:
        tree = Tree(f"[bold]{dim.id}[/bold] — {dim.name} ({dim.cardinality}{', required' if dim.required else ''})")
        _add_codes(tree, loaded, dim.id, None, details)
        console.print(tree, highlight=False)


def _add_codes(tree: Tree, codebook: Codebook, dimension: str, parent: str | None, details: bool) -> None:
    for flat in codebook.codes(dimension):
        if flat.parent != parent:
            continue
        code = flat.code
        label = f"[cyan]{code.id}[/cyan] {code.name}"
        if not code.codable:
            label += " [dim](grouping)[/dim]"
        if code.timing:
            label += f" [dim]timing: {', '.join(code.timing)}[/dim]"
        if code.relationship_types:
            label += f" [dim]relationships: {', '.join(code.relationship_types)}[/dim]"
        branch = tree.add(label)
        if details:
            branch.add(f"[italic]{code.definition}[/italic]")
            for cue in code.indicators:
                branch.add(f"• {cue}")
        _add_codes(branch, codebook, dimension, code.id, details)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Codebook YAML files to check.")],
) -> None:
    """Check codebook files and say exactly what is wrong (file, line, field)."""
    failed = False
    for file in files:
        try:
            codebook = load_codebook(file)
        except CodebookError as exc:
            failed = True
            for problem in exc.problems:
                err_console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
            continue
        codable = sum(1 for c in codebook.all_codes() if c.codable)
        console.print(
            f"[green]ok[/green] {file}: {codebook.key}, {len(codebook.dimensions)} dimensions, {codable} codable codes",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)
