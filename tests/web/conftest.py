"""Fixtures of the web tests: one example project per module (building it is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from webtools import build_project

from covalue.store import Store
from covalue.web import create_app


@pytest.fixture(scope="module")
def project_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("web") / "covalue.db"
    store = build_project(f"sqlite:///{path}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def app(project_store: Store):
    return create_app(project_store, suggestion_model=None)


@pytest.fixture
def client_for(app) -> Iterator:
    """``client_for(name)``: a TestClient signed in as ``name`` (None: anonymous)."""
    from webtools import login

    clients: list[TestClient] = []

    def make(name: str | None) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1")
        clients.append(client)
        if name is not None:
            login(client, name)
        return client

    yield make
    for client in clients:
        client.close()
