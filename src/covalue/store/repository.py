"""The store: the one place that reads and writes the database.

Interfaces (CLI, web) and engines call these methods; nothing outside ``store/`` writes SQL.
Bulk paths (importing incidents, adding codings) use Core inserts in batches inside one
transaction, so a failure rolls everything back and the database is never half-written.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from covalue.errors import StoreError
from covalue.framework.codebook import Codebook
from covalue.framework.loader import parse_codebook
from covalue.model.incident import Coder, Coding, Incident, Span
from covalue.store import database
from covalue.store.tables import (
    CodebookRow,
    CodeRow,
    CoderRow,
    CodingRow,
    ImportRow,
    IncidentRow,
    ProjectRow,
    RoundRow,
    utcnow,
)


def derived_guid(project_guid: str, kind: str, key: str) -> str:
    """A stable GUID for an object of ``kind`` identified by ``key`` inside a project."""
    return str(uuid.uuid5(_namespace(project_guid), f"{kind}:{key}"))


@functools.lru_cache(maxsize=64)
def _namespace(project_guid: str) -> uuid.UUID:
    return uuid.UUID(project_guid)


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    guid: str
    description: str | None


class Store:
    """A covalue database (SQLite file or PostgreSQL) at the current schema version."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, db: str | None = None, *, create: bool = False) -> Store:
        """Open the database at ``db`` (path or URL); ``create`` migrates an empty one.

        Without ``create`` a database whose schema is behind is still migrated (upgrades
        are safe and transactional); one with no covalue schema at all is an error, because
        that usually means a wrong path.
        """
        url = database.resolve_url(db)
        if not create and not database.database_exists(url):
            raise StoreError(f"no covalue database at {url}; run `covalue init` first or pass --db")
        engine = database.create_db_engine(url)
        try:
            current = database.current_revision(engine)
        except Exception as exc:  # connection refused, bad credentials, unreadable file
            raise StoreError(f"cannot open database {engine.url.render_as_string(hide_password=True)}: {exc}") from exc
        if current is None and not create:
            raise StoreError(
                f"no covalue database at {engine.url.render_as_string(hide_password=True)}; "
                "run `covalue init` first or pass --db"
            )
        if current != database.head_revision():
            database.migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, connection: Connection | None = None) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error.

        Given a ``connection`` the session joins that connection's transaction (under a
        savepoint), so that ORM work and bulk Core inserts commit or roll back together.
        """
        if connection is None:
            with self._sessions.begin() as session:
                yield session
            return
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction, for bulk writes."""
        with self.engine.begin() as connection:
            yield connection

    # -- projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str | None = None) -> ProjectInfo:
        if not name.strip():
            raise StoreError("a project needs a non-empty name")
        try:
            with self.session() as session:
                row = ProjectRow(name=name, description=description, guid=str(uuid.uuid4()))
                session.add(row)
                session.flush()
                return _project_info(row)
        except IntegrityError:
            raise StoreError(f"a project named {name!r} already exists") from None

    def projects(self) -> list[ProjectInfo]:
        with self.session() as session:
            rows = session.scalars(select(ProjectRow).order_by(ProjectRow.id)).all()
            return [_project_info(r) for r in rows]

    def project(self, name: str | None = None) -> ProjectInfo:
        """The named project, or the only one when ``name`` is None."""
        projects = self.projects()
        if name is None:
            if len(projects) == 1:
                return projects[0]
            if not projects:
                raise StoreError("the database has no project yet; run `covalue init`")
            names = ", ".join(p.name for p in projects)
            raise StoreError(f"the database has several projects ({names}); choose one with --project")
        for project in projects:
            if project.name == name:
                return project
        names = ", ".join(p.name for p in projects) or "none"
        raise StoreError(f"no project named {name!r} (projects: {names})")

    # -- codebooks ----------------------------------------------------------------------------
    def add_codebook(self, project: ProjectInfo, codebook: Codebook, connection: Connection | None = None) -> int:
        """Attach a codebook snapshot; idempotent for the same content, an error for a clash."""
        with self.session(connection) as session:
            existing = session.scalar(
                select(CodebookRow).where(
                    CodebookRow.project_id == project.id,
                    CodebookRow.codebook_id == codebook.id,
                    CodebookRow.version == codebook.version,
                )
            )
            if existing is not None:
                if existing.sha256 != codebook.sha256:
                    raise StoreError(
                        f"project {project.name!r} already has codebook {codebook.key} with different "
                        "content; give the changed codebook a new version"
                    )
                return existing.id
            row = CodebookRow(
                project_id=project.id,
                codebook_id=codebook.id,
                version=codebook.version,
                name=codebook.spec.name,
                sha256=codebook.sha256,
                source_text=codebook.source_text or "",
            )
            row.codes = [
                CodeRow(
                    dimension=flat.dimension,
                    code_id=flat.id,
                    parent_code_id=flat.parent,
                    guid=derived_guid(project.guid, "code", f"{codebook.key}/{flat.dimension}/{flat.id}"),
                )
                for flat in codebook.all_codes()
            ]
            session.add(row)
            session.flush()
            return row.id

    def codebooks(self, project: ProjectInfo) -> list[tuple[int, str]]:
        """(row id, ``id@version``) of every codebook attached to the project."""
        with self.session() as session:
            rows = session.execute(
                select(CodebookRow.id, CodebookRow.codebook_id, CodebookRow.version)
                .where(CodebookRow.project_id == project.id)
                .order_by(CodebookRow.id)
            ).all()
            return [(r.id, f"{r.codebook_id}@{r.version}") for r in rows]

    def codebook(self, project: ProjectInfo, key: str) -> tuple[int, Codebook]:
        """A stored codebook by ``id@version``, or by ``id`` (the newest version)."""
        codebook_id, _, version = key.partition("@")
        with self.session() as session:
            query = select(CodebookRow).where(
                CodebookRow.project_id == project.id, CodebookRow.codebook_id == codebook_id
            )
            if version:
                query = query.where(CodebookRow.version == version)
            rows = session.scalars(query.order_by(CodebookRow.id.desc())).all()
            if not rows:
                raise StoreError(f"project {project.name!r} has no codebook {key!r}")
            row = rows[0]
            return row.id, parse_codebook(row.source_text, f"{row.codebook_id}@{row.version}")

    # -- coders -------------------------------------------------------------------------------
    def ensure_coder(self, project: ProjectInfo, coder: Coder, connection: Connection | None = None) -> int:
        """The coder's row id, creating it on first use."""
        with self.session(connection) as session:
            row = session.scalar(select(CoderRow).where(CoderRow.project_id == project.id, CoderRow.name == coder.name))
            if row is None:
                row = CoderRow(
                    project_id=project.id,
                    name=coder.name,
                    kind=coder.kind,
                    model=coder.model,
                    version=coder.version,
                    guid=derived_guid(project.guid, "coder", coder.name),
                )
                session.add(row)
                session.flush()
            elif row.kind != coder.kind:
                raise StoreError(f"coder {coder.name!r} exists as a {row.kind} coder, not {coder.kind}")
            return row.id

    def coders(self, project: ProjectInfo) -> list[Coder]:
        with self.session() as session:
            rows = session.scalars(
                select(CoderRow).where(CoderRow.project_id == project.id).order_by(CoderRow.id)
            ).all()
            return [Coder(name=r.name, kind=r.kind, model=r.model, version=r.version) for r in rows]

    # -- incidents ----------------------------------------------------------------------------
    def count_incidents(self, project: ProjectInfo) -> int:
        with self.session() as session:
            return (
                session.scalar(
                    select(func.count()).select_from(IncidentRow).where(IncidentRow.project_id == project.id)
                )
                or 0
            )

    def incident(self, project: ProjectInfo, external_id: str) -> Incident:
        with self.session() as session:
            row = session.scalar(
                select(IncidentRow).where(IncidentRow.project_id == project.id, IncidentRow.external_id == external_id)
            )
            if row is None:
                raise StoreError(f"project {project.name!r} has no incident {external_id!r}")
            return _incident(row)

    def iter_incidents(
        self,
        project: ProjectInfo,
        *,
        batch_size: int = 1000,
        source: str | None = None,
        uncoded_by: tuple[int, int] | None = None,
    ) -> Iterator[Incident]:
        """Incidents in import order, fetched in keyset-paginated batches (flat memory).

        ``uncoded_by=(coder_id, codebook_pk)`` leaves out incidents that coder already coded
        under that codebook, which is how an interrupted coding run resumes.
        """
        last_id = 0
        while True:
            with self.session() as session:
                query = (
                    select(IncidentRow)
                    .where(IncidentRow.project_id == project.id, IncidentRow.id > last_id)
                    .order_by(IncidentRow.id)
                    .limit(batch_size)
                )
                if source is not None:
                    query = query.where(IncidentRow.source == source)
                if uncoded_by is not None:
                    coded = select(CodingRow.id).where(
                        CodingRow.incident_id == IncidentRow.id,
                        CodingRow.coder_id == uncoded_by[0],
                        CodingRow.codebook_pk == uncoded_by[1],
                    )
                    query = query.where(~coded.exists())
                rows = session.scalars(query).all()
                batch = [_incident(row) for row in rows]
            if not rows:
                return
            last_id = rows[-1].id
            yield from batch

    def list_incidents(
        self, project: ProjectInfo, *, limit: int = 20, offset: int = 0, source: str | None = None
    ) -> list[Incident]:
        """One page of incidents in import order, for listings."""
        with self.session() as session:
            query = select(IncidentRow).where(IncidentRow.project_id == project.id)
            if source is not None:
                query = query.where(IncidentRow.source == source)
            rows = session.scalars(query.order_by(IncidentRow.id).offset(offset).limit(limit)).all()
            return [_incident(row) for row in rows]

    def incident_pks(self, connection: Connection, project: ProjectInfo, external_ids: Sequence[str]) -> dict[str, int]:
        """Map external ids to row ids (chunked to stay under SQL parameter limits)."""
        found: dict[str, int] = {}
        for start in range(0, len(external_ids), 500):
            chunk = list(external_ids[start : start + 500])
            rows = connection.execute(
                select(IncidentRow.external_id, IncidentRow.id).where(
                    IncidentRow.project_id == project.id, IncidentRow.external_id.in_(chunk)
                )
            ).all()
            found.update({r.external_id: r.id for r in rows})
        return found

    def insert_incidents(
        self,
        connection: Connection,
        project: ProjectInfo,
        incidents: Sequence[Incident],
        import_id: int | None,
    ) -> None:
        """Bulk insert on a caller's transaction; raises IntegrityError on a duplicate id."""
        now = utcnow()
        connection.execute(
            insert(IncidentRow.__table__),
            [
                incident_values(project, i, derived_guid(project.guid, "incident", i.external_id), import_id, now)
                for i in incidents
            ],
        )

    def existing_ids(self, connection: Connection, project: ProjectInfo, external_ids: Iterable[str]) -> set[str]:
        return set(self.incident_pks(connection, project, list(external_ids)))

    # -- imports ------------------------------------------------------------------------------
    def start_import(self, connection: Connection, project: ProjectInfo, path: str, fmt: str, kind: str) -> int:
        result = connection.execute(
            insert(ImportRow.__table__).values(
                project_id=project.id, path=path, format=fmt, kind=kind, started_at=utcnow(), problems=[]
            )
        )
        return result.inserted_primary_key[0]

    def finish_import(
        self,
        connection: Connection,
        import_id: int,
        imported: int,
        skipped: int,
        problems: list[dict[str, Any]],
    ) -> None:
        connection.execute(
            ImportRow.__table__.update()
            .where(ImportRow.id == import_id)
            .values(finished_at=utcnow(), rows_imported=imported, rows_skipped=skipped, problems=problems)
        )

    def imports(self, project: ProjectInfo) -> list[dict[str, Any]]:
        with self.session() as session:
            rows = session.scalars(
                select(ImportRow).where(ImportRow.project_id == project.id).order_by(ImportRow.id)
            ).all()
            return [
                {
                    "id": r.id,
                    "path": r.path,
                    "format": r.format,
                    "kind": r.kind,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "rows_imported": r.rows_imported,
                    "rows_skipped": r.rows_skipped,
                    "problems": r.problems,
                }
                for r in rows
            ]

    # -- codings ------------------------------------------------------------------------------
    def insert_codings(
        self,
        connection: Connection,
        project: ProjectInfo,
        codebook_pk: int,
        codings: Sequence[Coding],
        coder_ids: dict[str, int],
        incident_pks: dict[str, int],
        round_ids: dict[str, int] | None = None,
    ) -> None:
        """Bulk insert codings on a caller's transaction (ids already resolved by the caller)."""
        if not codings:
            return
        now = utcnow()
        round_ids = round_ids or {}
        rows = []
        for coding in codings:
            key = f"{coding.incident_id}/{coding.coder}/{coding.dimension}/{coding.code_id}"
            if coding.span is not None:
                key += f"/{coding.span.start}-{coding.span.end}"
            rows.append(
                {
                    "incident_id": incident_pks[coding.incident_id],
                    "coder_id": coder_ids[coding.coder],
                    "codebook_pk": codebook_pk,
                    "dimension": coding.dimension,
                    "code_id": coding.code_id,
                    "start": coding.span.start if coding.span else None,
                    "end": coding.span.end if coding.span else None,
                    "confidence": coding.confidence,
                    "evidence": [[s.start, s.end] for s in coding.evidence],
                    "round_id": round_ids.get(coding.round) if coding.round else None,
                    "memo": coding.memo,
                    "guid": derived_guid(project.guid, "coding", key),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        connection.execute(insert(CodingRow.__table__), rows)

    def delete_codings(
        self, connection: Connection, coder_id: int, codebook_pk: int, incident_pks: Iterable[int]
    ) -> int:
        """Remove a coder's incident-level codings of some incidents (for ``--replace``)."""
        table = CodingRow.__table__
        removed = 0
        pks = list(incident_pks)
        for start in range(0, len(pks), 500):
            result = connection.execute(
                table.delete().where(
                    table.c.coder_id == coder_id,
                    table.c.codebook_pk == codebook_pk,
                    table.c.start.is_(None),
                    table.c.incident_id.in_(pks[start : start + 500]),
                )
            )
            removed += result.rowcount or 0
        return removed

    def coded_incident_pks(self, connection: Connection, coder_id: int, codebook_pk: int) -> set[int]:
        rows = connection.execute(
            select(CodingRow.incident_id)
            .where(CodingRow.coder_id == coder_id, CodingRow.codebook_pk == codebook_pk)
            .distinct()
        ).all()
        return {r.incident_id for r in rows}

    def iter_codings(
        self,
        project: ProjectInfo,
        *,
        coder: str | None = None,
        codebook_pk: int | None = None,
        batch_size: int = 5000,
    ) -> Iterator[Coding]:
        """Codings in (incident, coder, id) order, batched for flat memory."""
        last_id = 0
        while True:
            with self.session() as session:
                query = (
                    self._codings_query(project).where(CodingRow.id > last_id).order_by(CodingRow.id).limit(batch_size)
                )
                if coder is not None:
                    query = query.where(CoderRow.name == coder)
                if codebook_pk is not None:
                    query = query.where(CodingRow.codebook_pk == codebook_pk)
                rows = session.execute(query).all()
            if not rows:
                return
            last_id = rows[-1][0].id
            for row in rows:
                yield _coding(*row)

    def codings_of(self, project: ProjectInfo, external_id: str) -> list[Coding]:
        """Every coding of one incident, by every coder, in the order they were made."""
        with self.session() as session:
            rows = session.execute(
                self._codings_query(project).where(IncidentRow.external_id == external_id).order_by(CodingRow.id)
            ).all()
        return [_coding(*row) for row in rows]

    @staticmethod
    def _codings_query(project: ProjectInfo):
        return (
            select(
                CodingRow,
                IncidentRow.external_id,
                CoderRow.name,
                RoundRow.name,
                CodebookRow.codebook_id,
                CodebookRow.version,
            )
            .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
            .join(CodebookRow, CodingRow.codebook_pk == CodebookRow.id)
            .join(CoderRow, CodingRow.coder_id == CoderRow.id)
            .outerjoin(RoundRow, CodingRow.round_id == RoundRow.id)
            .where(IncidentRow.project_id == project.id)
        )

    def iter_codings_by_incident(
        self,
        project: ProjectInfo,
        *,
        coder: str | None = None,
        codebook_pk: int | None = None,
        batch_size: int = 1000,
    ) -> Iterator[tuple[str, list[Coding]]]:
        """(incident id, its codings) for every coded incident, in import order, batched."""
        last_pk = 0
        while True:
            with self.session() as session:
                query = self._codings_query(project)
                if coder is not None:
                    query = query.where(CoderRow.name == coder)
                if codebook_pk is not None:
                    query = query.where(CodingRow.codebook_pk == codebook_pk)
                pk_query = (
                    query.with_only_columns(CodingRow.incident_id)
                    .where(CodingRow.incident_id > last_pk)
                    .distinct()
                    .order_by(CodingRow.incident_id)
                    .limit(batch_size)
                )
                pks = list(session.scalars(pk_query).all())
                if not pks:
                    return
                rows = session.execute(
                    query.where(CodingRow.incident_id.in_(pks)).order_by(CodingRow.incident_id, CodingRow.id)
                ).all()
            last_pk = pks[-1]
            grouped: dict[str, list[Coding]] = {}
            for row in rows:
                coding = _coding(*row)
                grouped.setdefault(coding.incident_id, []).append(coding)
            yield from grouped.items()

    # -- summaries ----------------------------------------------------------------------------
    def summary(self, project: ProjectInfo) -> dict[str, Any]:
        """What a person wants after an import: incidents by source and type, codings by coder."""
        with self.session() as session:
            by_source = session.execute(
                select(IncidentRow.source, func.count())
                .where(IncidentRow.project_id == project.id)
                .group_by(IncidentRow.source)
                .order_by(func.count().desc(), IncidentRow.source)
            ).all()
            by_relationship = session.execute(
                select(IncidentRow.relationship_type, func.count())
                .where(IncidentRow.project_id == project.id)
                .group_by(IncidentRow.relationship_type)
                .order_by(func.count().desc(), IncidentRow.relationship_type)
            ).all()
            dates = session.execute(
                select(func.min(IncidentRow.occurred_at), func.max(IncidentRow.occurred_at)).where(
                    IncidentRow.project_id == project.id
                )
            ).one()
            by_coder = session.execute(
                select(
                    CoderRow.name,
                    CoderRow.kind,
                    func.count(func.distinct(CodingRow.incident_id)),
                    func.count(),
                )
                .join(CodingRow, CodingRow.coder_id == CoderRow.id)
                .where(CoderRow.project_id == project.id)
                .group_by(CoderRow.name, CoderRow.kind)
                .order_by(CoderRow.name)
            ).all()
        return {
            "project": project.name,
            "incidents": sum(n for _, n in by_source),
            "by_source": {(s or "(none)"): n for s, n in by_source},
            "by_relationship_type": {(r or "(none)"): n for r, n in by_relationship},
            "first_date": dates[0],
            "last_date": dates[1],
            "codebooks": [key for _, key in self.codebooks(project)],
            "coders": {name: {"kind": kind, "incidents": inc, "codings": n} for name, kind, inc, n in by_coder},
        }

    def code_counts(self, project: ProjectInfo, codebook_pk: int, coder: str) -> dict[tuple[str, str], int]:
        """Incidents per (dimension, code) for one coder: an SQL aggregate, not a Python loop."""
        with self.session() as session:
            rows = session.execute(
                select(CodingRow.dimension, CodingRow.code_id, func.count(func.distinct(CodingRow.incident_id)))
                .join(CoderRow, CodingRow.coder_id == CoderRow.id)
                .where(
                    CoderRow.project_id == project.id,
                    CoderRow.name == coder,
                    CodingRow.codebook_pk == codebook_pk,
                )
                .group_by(CodingRow.dimension, CodingRow.code_id)
            ).all()
        return {(d, c): n for d, c, n in rows}


def incident_values(
    project: ProjectInfo, incident: Incident, guid: str, import_id: int | None, created_at: datetime
) -> dict[str, Any]:
    """The ``incidents`` row of an incident, for Core bulk inserts."""
    return {
        "project_id": project.id,
        "external_id": incident.external_id,
        "text": incident.text,
        "source": incident.source,
        "relationship_type": incident.relationship_type,
        "channel": incident.channel,
        "occurred_at": incident.occurred_at,
        "customer_id": incident.customer_id,
        "thread_id": incident.thread_id,
        "thread_position": incident.thread_position,
        "metadata": incident.metadata,
        "guid": guid,
        "import_id": import_id,
        "created_at": created_at,
    }


def _project_info(row: ProjectRow) -> ProjectInfo:
    return ProjectInfo(id=row.id, name=row.name, guid=row.guid, description=row.description)


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        external_id=row.external_id,
        text=row.text,
        source=row.source,
        relationship_type=row.relationship_type,
        channel=row.channel,
        occurred_at=row.occurred_at,
        customer_id=row.customer_id,
        thread_id=row.thread_id,
        thread_position=row.thread_position,
        metadata=dict(row.meta or {}),
    )


def _coding(
    row: CodingRow, external_id: str, coder_name: str, round_name: str | None, codebook_id: str, version: str
) -> Coding:
    return Coding(
        incident_id=external_id,
        dimension=row.dimension,
        code_id=row.code_id,
        coder=coder_name,
        span=Span(row.start, row.end) if row.start is not None else None,
        confidence=row.confidence,
        evidence=tuple(Span(s, e) for s, e in row.evidence or []),
        round=round_name,
        memo=row.memo,
        codebook=f"{codebook_id}@{version}",
    )
