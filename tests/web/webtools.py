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


def add_machine_codes(store: Store) -> str:
    """Code every incident with the bundled fast coder (about 2 s); returns the machine coder's name.

    Gives the dashboards a second coder of all 501 incidents, so reliability compares it with
    ``gold`` on the 260 reference-labelled ones.
    """
    from covalue.coding.training import load_model
    from covalue.engines.local import code_project

    coder = load_model("fast")
    project = store.projects()[0]
    code_project(coder, store, project, model="fast")
    return coder.name


#: Customer kidchorusteach's tweets and customer 115911's support threads, each pair in time order: the
#: only customers of the example with two incidents (each support thread is one incident).
KID = ("air-568895050601508865", "air-569103475709054976")
SUPPORT = ("twcs-5360", "twcs-5355")
#: Codes that make a loss spiral of KID (a new resource lost, coping climbs from a direct to a public
#: complaint) and a recovery of SUPPORT (a co-creation after the loss).
SPIRAL_CODES = {
    KID[0]: {
        "valence": ["co_destruction"],
        "reasons": ["R1.1"],
        "resources_lost": ["time"],
        "coping": ["direct_complaint"],
    },
    KID[1]: {
        "valence": ["co_destruction"],
        "reasons": ["R1.1"],
        "resources_lost": ["time", "effort"],
        "coping": ["public_complaint"],
    },
    SUPPORT[0]: {"valence": ["co_destruction"], "reasons": ["R4.3"], "resources_lost": ["money"]},
    SUPPORT[1]: {"valence": ["co_creation"]},
}


def code(client: httpx.Client, codes: dict[str, dict[str, list[str]]], project: int = 1) -> None:
    """Apply incident-level codes through the API as the client's user."""
    for item, dimensions in codes.items():
        for dimension, values in dimensions.items():
            for value in values:
                made = client.post(
                    f"/api/projects/{project}/incidents/{item}/codings", json={"dimension": dimension, "code_id": value}
                )
                assert made.status_code == 201, made.text


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
