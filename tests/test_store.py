"""The store on SQLite and on PostgreSQL: projects, codebooks, coders, incidents, codings, migrations."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from covalue.errors import StoreError
from covalue.framework import Codebook, load_codebook
from covalue.model import Coder, Coding, Incident, Span
from covalue.store import Store, resolve_url
from covalue.store import database as db
from covalue.store.tables import Base

TABLES = {
    "projects", "codebooks", "codes", "imports", "incidents", "coders", "rounds",
    "round_incidents", "round_coders", "codings", "alembic_version",
}  # fmt: skip


def _incidents(n: int) -> list[Incident]:
    return [
        Incident(
            external_id=f"i{k}",
            text=f"Waited {k} weeks for a refund, still nothing – ünïcode ✓",
            source="test",
            relationship_type="B2C",
            occurred_at=datetime(2024, 1, 1 + k % 28, 12, 0),
            thread_id="t1" if k < 3 else None,
            thread_position=k if k < 3 else None,
            metadata={"k": k, "tags": ["a", "b"]},
        )
        for k in range(n)
    ]


def test_migrations_from_empty_match_the_models(db_url: str) -> None:
    engine = db.create_db_engine(db_url)
    assert db.current_revision(engine) is None
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"migrations and models disagree: {diff}"
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_open_requires_init_unless_create(db_url: str) -> None:
    with pytest.raises(StoreError, match="run `covalue init`"):
        Store.open(db_url)
    Store.open(db_url, create=True).close()
    Store.open(db_url).close()


def test_projects(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    with pytest.raises(StoreError, match="no project yet"):
        store.project()
    alpha = store.create_project("alpha", "first")
    assert store.project() == alpha
    with pytest.raises(StoreError, match="already exists"):
        store.create_project("alpha")
    store.create_project("beta")
    with pytest.raises(StoreError, match="several projects"):
        store.project()
    assert store.project("beta").name == "beta"
    with pytest.raises(StoreError, match="no project named 'gamma'"):
        store.project("gamma")
    store.close()


def test_codebooks_are_snapshots_with_stable_code_guids(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    project = store.create_project("p")
    vcd = load_codebook("vcd")
    pk = store.add_codebook(project, vcd)
    assert store.add_codebook(project, vcd) == pk  # idempotent
    stored_pk, stored = store.codebook(project, "vcd")
    assert stored_pk == pk and stored.key == vcd.key and stored.sha256 == vcd.sha256
    assert store.codebook(project, vcd.key)[0] == pk
    clash = Codebook(vcd.spec.model_copy(update={"name": "changed"}), vcd.source_text)
    with pytest.raises(StoreError, match="different content"):
        store.add_codebook(project, clash)
    with pytest.raises(StoreError, match="no codebook 'nope'"):
        store.codebook(project, "nope")
    store.close()


def test_incidents_and_codings_round_trip(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    project = store.create_project("p")
    codebook_pk = store.add_codebook(project, load_codebook("vcd"))
    incidents = _incidents(7)
    with store.connection() as connection:
        store.insert_incidents(connection, project, incidents, None)
    assert store.count_incidents(project) == 7
    assert list(store.iter_incidents(project, batch_size=3)) == incidents
    assert store.list_incidents(project, limit=2, offset=5) == incidents[5:7]
    assert store.incident(project, "i4") == incidents[4]
    with pytest.raises(StoreError, match="no incident 'zz'"):
        store.incident(project, "zz")

    human = store.ensure_coder(project, Coder("ann"))
    machine = store.ensure_coder(project, Coder("bot", kind="machine", model="rules", version="1"))
    assert store.ensure_coder(project, Coder("ann")) == human
    with pytest.raises(StoreError, match="exists as a human coder"):
        store.ensure_coder(project, Coder("ann", kind="machine"))
    text = incidents[1].text
    codings = [
        Coding("i1", "valence", "co_destruction", "ann"),
        Coding("i1", "reasons", "R4.4", "ann", span=Span(0, 6)),
        Coding("i1", "reasons", "R4.4", "bot", confidence=0.9, evidence=(Span(0, 15),)),
        Coding("i0", "valence", "co_creation", "bot", confidence=0.6, memo="check"),
    ]
    with store.connection() as connection:
        pks = store.incident_pks(connection, project, ["i0", "i1"])
        store.insert_codings(connection, project, codebook_pk, codings, {"ann": human, "bot": machine}, pks)
    stored = list(store.iter_codings(project, batch_size=2))
    assert [(c.incident_id, c.code_id, c.coder) for c in stored] == [
        (c.incident_id, c.code_id, c.coder) for c in codings
    ]
    assert stored[1].span == Span(0, 6) and stored[1].span.text_of(text) == "Waited"
    assert stored[2].evidence == (Span(0, 15),) and stored[2].confidence == pytest.approx(0.9)
    assert stored[0].codebook == load_codebook("vcd").key
    assert [c.code_id for c in store.iter_codings(project, coder="bot")] == ["R4.4", "co_creation"]
    grouped = dict(store.iter_codings_by_incident(project, coder="bot", batch_size=1))
    assert list(grouped) == ["i0", "i1"]
    assert [c.code_id for c in store.codings_of(project, "i1")] == ["co_destruction", "R4.4", "R4.4"]

    summary = store.summary(project)
    assert summary["incidents"] == 7 and summary["by_source"] == {"test": 7}
    assert summary["coders"]["ann"] == {"kind": "human", "incidents": 1, "codings": 2}
    assert store.code_counts(project, codebook_pk, "bot") == {
        ("reasons", "R4.4"): 1,
        ("valence", "co_creation"): 1,
    }
    store.close()


def test_a_failed_bulk_write_leaves_nothing(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    project = store.create_project("p")
    with pytest.raises(Exception), store.connection() as connection:  # noqa: B017 - any DB error
        store.insert_incidents(connection, project, _incidents(3), None)
        store.insert_incidents(connection, project, _incidents(1), None)  # duplicate id i0
    assert store.count_incidents(project) == 0
    store.close()


def test_guids_are_stable_per_project(db_url: str) -> None:
    store = Store.open(db_url, create=True)
    project = store.create_project("p")
    with store.connection() as connection:
        store.insert_incidents(connection, project, _incidents(2), None)
    from covalue.store.tables import IncidentRow

    with store.session() as session:
        guids = [r.guid for r in session.query(IncidentRow).order_by(IncidentRow.id)]
    from covalue.store import derived_guid

    assert guids == [
        derived_guid(project.guid, "incident", "i0"),
        derived_guid(project.guid, "incident", "i1"),
    ]
    store.close()


def test_resolve_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVALUE_DATABASE_URL", raising=False)
    assert resolve_url(None) == "sqlite:///covalue.db"
    assert resolve_url("data/x.db") == "sqlite:///data/x.db"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("COVALUE_DATABASE_URL", "sqlite:////tmp/env.db")
    assert resolve_url(None) == "sqlite:////tmp/env.db"
    with pytest.raises(StoreError, match="does not exist"):
        Store.open("/no/such/folder/x.db", create=True)
