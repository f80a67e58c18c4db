"""Shared CLI plumbing: options, opening the store, and turning errors into exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from covalue.errors import CodebookError, CovalueError, InputError
from covalue.store import Store
from covalue.store.repository import ProjectInfo

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a file path (SQLite) or a URL such as postgresql://user@host/db. "
        "Default: $COVALUE_DATABASE_URL, else ./covalue.db.",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project name (default: the only project in the database)."),
]

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes: 1 for bad input or a failed operation (Typer uses 2 for bad usage).
EXIT_FAILURE = 1


def handle_errors(function: F) -> F:
    """Print covalue errors as one clear message (no traceback) and exit non-zero."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CodebookError as exc:
            for problem in exc.problems:
                err_console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILURE) from None
        except InputError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            err_console.print("Nothing was written.", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None
        except CovalueError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_project(db: str | None, project: str | None) -> Iterator[tuple[Store, ProjectInfo]]:
    store = Store.open(db)
    try:
        yield store, store.project(project)
    finally:
        store.close()


def is_interactive() -> bool:
    return sys.stderr.isatty()
