"""Shared set-up of web tests: a project from the bundled example, users in every role, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn

from covalue.framework import load_codebook
from covalue.ingest.importer import import_incidents
from covalue.ingest.labels import import_labels
from covalue.model.incident import Coder, Incident
from covalue.store import Store
from covalue.web import create_app
from covalue.web.repository import WebStore

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "covalue" / "data" / "example"
PASSWORD = "correct horse battery"
XSS_ID = "xss-1"
XSS_TEXT = "<script>alert(1)</script><img src=x onerror=alert(2)> My card was charged twice & nobody helped."
#: user -> role in the project ("admin" is the site admin and owner; "nina" is no member).
ROLES = {"admin": "owner", "alice": "coder", "bob": "coder", "vera": "viewer"}
USERS = (*ROLES, "nina")


def build_project(url: str, *, labels: bool = True, incidents: Path | None = None) -> Store:
    """A store with the example incidents (plus the XSS incident), gold labels and five users."""
    store = Store.open(url, create=True)
    project = store.create_project("example", "Bundled example incidents")
    store.add_codebook(project, load_codebook("vcd"))
    import_incidents(store, project, incidents or EXAMPLE / "incidents.csv")
    with store.connection() as connection:
        store.insert_incidents(
            connection,
            project,
            [Incident(external_id=XSS_ID, text=XSS_TEXT, source="test", occurred_at=datetime(2024, 5, 1))],
            None,
        )
    if labels:
        import_labels(store, project, EXAMPLE / "labels_gold.csv", load_codebook("vcd"), Coder(name="gold"))
    web = WebStore(store)
    for name in USERS:
        web.create_user(name, PASSWORD, is_admin=name == "admin")
    for name, role in ROLES.items():
        web.set_member(project, name, role)
    return store


def login(client: httpx.Client, name: str) -> str:
    """Sign ``client`` in as ``name``; returns the CSRF token and sets it as a default header."""
    response = client.post("/api/login", json={"name": name, "password": PASSWORD})
    response.raise_for_status()
    token = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(store: Store, *, suggestion_model: str | None = None) -> Iterator[str]:
    """Run the app with uvicorn in a thread on 127.0.0.1; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(store, suggestion_model=suggestion_model), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
