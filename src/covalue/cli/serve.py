"""`covalue serve` (the web workbench) and `covalue user` (accounts for it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from covalue.cli.common import DbOption, console, err_console, handle_errors
from covalue.errors import CovalueError
from covalue.store import Store
from covalue.store.database import resolve_url

user_app = typer.Typer(help="Accounts of the web workbench (covalue serve).", no_args_is_help=True)


@handle_errors
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on; keep 127.0.0.1 behind a reverse proxy.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    suggestions: Annotated[
        bool, typer.Option(help="Show the bundled fast coder's suggestions when no machine coder has run.")
    ] = True,
    workers: Annotated[
        int, typer.Option(help="Server processes (PostgreSQL only): more coders saving at once.", min=1)
    ] = 1,
) -> None:
    """Run the web workbench: team coding, blind rounds, adjudication and dashboards."""
    import uvicorn

    from covalue.web import create_app

    url = resolve_url(db)
    store = Store.open(url, create=True)
    try:
        if workers > 1 and store.engine.dialect.name != "postgresql":
            raise CovalueError("--workers above 1 needs PostgreSQL: SQLite takes one writer at a time")
        app = create_app(store, suggestion_model="fast" if suggestions else None)
        if not app.state.web.users():
            err_console.print(
                "No user yet: create the first admin with `covalue user add NAME --admin`.", highlight=False
            )
        console.print(f"covalue workbench on http://{host}:{port}/ (Ctrl+C stops it)", highlight=False)
        if workers == 1:
            uvicorn.run(app, host=host, port=port, log_level="warning")
            return
    finally:
        store.close()
    _serve_processes(url, host, port, workers, "fast" if suggestions else None)


def _serve_processes(url: str, host: str, port: int, workers: int, suggestion_model: str | None) -> None:
    """Several uvicorn worker processes, each building the app from the environment."""
    import os

    import uvicorn

    from covalue.web.app import DATABASE_ENV, SUGGESTIONS_ENV

    os.environ[DATABASE_ENV] = url
    os.environ[SUGGESTIONS_ENV] = suggestion_model or ""
    uvicorn.run(
        "covalue.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise CovalueError("the password is empty")
    return password


PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


@contextmanager
def _accounts(db: str | None, *, create: bool = False) -> Iterator[Any]:
    """The web accounts of a database; a rejected name or password becomes a CLI error."""
    from covalue.web.repository import WebStore

    store = Store.open(db, create=create)
    try:
        yield WebStore(store)
    except ValueError as exc:
        raise CovalueError(str(exc)) from None
    finally:
        store.close()


@user_app.command("add")
@handle_errors
def add_user(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ -).")],
    admin: Annotated[bool, typer.Option("--admin", help="Site admin: may create projects and users.")] = False,
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Create a user of the web workbench (the first one should be an --admin)."""
    password = _read_password(password_stdin)
    with _accounts(db, create=True) as accounts:
        user = accounts.create_user(name, password, is_admin=admin)
    console.print(f"Created {'admin ' if user.is_admin else ''}user {user.name!r}.", highlight=False)


@user_app.command("password")
@handle_errors
def set_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Set a user's password (signs them out everywhere)."""
    password = _read_password(password_stdin)
    with _accounts(db) as accounts:
        accounts.set_password(name, password)
    console.print(f"Password of {name!r} changed.", highlight=False)


@user_app.command("list")
@handle_errors
def list_users(db: DbOption = None) -> None:
    """List the workbench's users."""
    with _accounts(db) as accounts:
        for user in accounts.users():
            console.print(f"{user.name}{'  (admin)' if user.is_admin else ''}", highlight=False)
