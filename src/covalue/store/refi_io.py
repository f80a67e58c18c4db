"""Store access for REFI-QDA interchange: rows with their GUIDs, and inserts that keep given GUIDs.

The repository derives GUIDs from names when it creates rows. REFI-QDA files carry their own
GUIDs, and a QDA program recognises "the same code / document / coding" on a later exchange
only by its GUID, so the importer must store the file's GUIDs verbatim and the exporter must
read the stored ones back. These functions do exactly that on a caller's connection (one
transaction for a whole import or export) and nothing else; they live apart from
``repository.py`` so that the interchange code does not widen the general store interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from covalue.model.incident import Incident
from covalue.store.repository import ProjectInfo, incident_values
from covalue.store.tables import (
    CodebookRow,
    CodeRow,
    CoderRow,
    CodingRow,
    IncidentRow,
    ProjectRow,
    utcnow,
)

_CHUNK = 500  # stays under SQLite's bound-parameter limit


@dataclass(frozen=True)
class IncidentRecord:
    """An incident with the row facts an exchange file needs (GUID, creation time, row id)."""

    pk: int
    guid: str
    created_at: datetime
    incident: Incident


@dataclass(frozen=True)
class CoderRecord:
    pk: int
    name: str
    kind: str
    model: str | None
    version: str | None
    guid: str


@dataclass(frozen=True)
class CodingRecord:
    """One stored coding, by row ids (the exporter resolves incidents, coders and codes itself)."""

    guid: str
    incident_pk: int
    coder_pk: int
    dimension: str
    code_id: str
    start: int | None
    end: int | None
    confidence: float | None
    evidence: list[Any]
    round_id: int | None
    memo: str | None
    created_at: datetime


@dataclass(frozen=True)
class NewIncident:
    """An incident to insert with a GUID chosen by the caller (the file's)."""

    guid: str
    incident: Incident
    created_at: datetime | None = None


@dataclass(frozen=True)
class NewCoding:
    """A coding to insert with the file's GUID; ids are already resolved to row ids."""

    guid: str
    incident_pk: int
    coder_pk: int
    codebook_pk: int
    dimension: str
    code_id: str
    start: int | None = None
    end: int | None = None
    memo: str | None = None
    created_at: datetime | None = None


# -- reading ----------------------------------------------------------------------------------
def project_created_at(connection: Connection, project: ProjectInfo) -> datetime:
    """When the project was created: the stable creation time of an exported project."""
    return connection.execute(select(ProjectRow.created_at).where(ProjectRow.id == project.id)).scalar_one()


def coder_records(connection: Connection, project: ProjectInfo) -> list[CoderRecord]:
    rows = connection.execute(
        select(CoderRow.__table__).where(CoderRow.project_id == project.id).order_by(CoderRow.id)
    ).all()
    return [CoderRecord(pk=r.id, name=r.name, kind=r.kind, model=r.model, version=r.version, guid=r.guid) for r in rows]


def code_guids(connection: Connection, codebook_pk: int) -> dict[tuple[str, str], str]:
    """(dimension, code id) → stored GUID of every code of one stored codebook."""
    rows = connection.execute(
        select(CodeRow.dimension, CodeRow.code_id, CodeRow.guid).where(CodeRow.codebook_pk == codebook_pk)
    ).all()
    return {(r.dimension, r.code_id): r.guid for r in rows}


def code_guid_index(connection: Connection, project: ProjectInfo) -> dict[str, tuple[int, str, str, str]]:
    """Stored code GUID → (codebook row id, ``id@version``, dimension, code id), project-wide.

    How a re-imported file is matched to the codebook it was exported with: a QDA program
    keeps code GUIDs, so codes coming back carry the GUIDs this project gave them.
    """
    rows = connection.execute(
        select(CodeRow.guid, CodeRow.codebook_pk, CodebookRow.codebook_id, CodebookRow.version,
               CodeRow.dimension, CodeRow.code_id)
        .join(CodebookRow, CodeRow.codebook_pk == CodebookRow.id)
        .where(CodebookRow.project_id == project.id)
        .order_by(CodeRow.id)
    ).all()  # fmt: skip
    return {r.guid.lower(): (r.codebook_pk, f"{r.codebook_id}@{r.version}", r.dimension, r.code_id) for r in rows}


def codebook_keys(connection: Connection, project: ProjectInfo) -> dict[str, tuple[int, str]]:
    """``id@version`` → (row id, content sha256) of the project's codebooks."""
    rows = connection.execute(
        select(CodebookRow.id, CodebookRow.codebook_id, CodebookRow.version, CodebookRow.sha256).where(
            CodebookRow.project_id == project.id
        )
    ).all()
    return {f"{r.codebook_id}@{r.version}": (r.id, r.sha256) for r in rows}


def codebooks_with_codings(connection: Connection, project: ProjectInfo) -> list[int]:
    """Row ids of the project's codebooks that at least one coding uses."""
    rows = connection.execute(
        select(CodingRow.codebook_pk)
        .join(CodebookRow, CodingRow.codebook_pk == CodebookRow.id)
        .where(CodebookRow.project_id == project.id)
        .distinct()
        .order_by(CodingRow.codebook_pk)
    ).all()
    return [r.codebook_pk for r in rows]


def iter_incident_records(
    connection: Connection, project: ProjectInfo, *, batch_size: int = 1000
) -> Iterator[list[IncidentRecord]]:
    """Incidents in import order, in keyset-paginated batches (flat memory for big projects)."""
    last = 0
    while True:
        rows = connection.execute(
            select(IncidentRow.__table__)
            .where(IncidentRow.project_id == project.id, IncidentRow.id > last)
            .order_by(IncidentRow.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        yield [_incident_record(r) for r in rows]


def codings_of_incidents(
    connection: Connection, codebook_pk: int, incident_pks: Sequence[int], coder_pk: int | None = None
) -> list[CodingRecord]:
    """Codings of some incidents under one codebook, in row order (optionally one coder's)."""
    found: list[CodingRecord] = []
    for start in range(0, len(incident_pks), _CHUNK):
        query = select(CodingRow.__table__).where(
            CodingRow.codebook_pk == codebook_pk,
            CodingRow.incident_id.in_(list(incident_pks[start : start + _CHUNK])),
        )
        if coder_pk is not None:
            query = query.where(CodingRow.coder_id == coder_pk)
        found.extend(_coding_record(r) for r in connection.execute(query.order_by(CodingRow.id)).all())
    return found


def incidents_by_guid(
    connection: Connection, project: ProjectInfo, guids: Sequence[str]
) -> dict[str, tuple[int, str, str]]:
    """Lower-cased GUID → (row id, external id, text) of existing incidents with those GUIDs."""
    rows = _incidents_where(connection, project, IncidentRow.guid, guids)
    return {r.guid.lower(): (r.id, r.external_id, r.text) for r in rows}


def incidents_by_external_id(
    connection: Connection, project: ProjectInfo, external_ids: Sequence[str]
) -> dict[str, tuple[int, str, str]]:
    """External id → (row id, GUID, text) of existing incidents with those ids."""
    rows = _incidents_where(connection, project, IncidentRow.external_id, external_ids)
    return {r.external_id: (r.id, r.guid, r.text) for r in rows}


def _incidents_where(connection: Connection, project: ProjectInfo, column: Any, values: Sequence[str]) -> list[Any]:
    """Id, GUID, external id and text of the project's incidents whose ``column`` is in ``values``."""
    found: list[Any] = []
    for chunk in _chunks(values):
        found += connection.execute(
            select(IncidentRow.id, IncidentRow.guid, IncidentRow.external_id, IncidentRow.text).where(
                IncidentRow.project_id == project.id, column.in_(chunk)
            )
        ).all()
    return found


def existing_coding_guids(connection: Connection, project: ProjectInfo, guids: Sequence[str]) -> set[str]:
    """Which of ``guids`` (lower-case) the project's codings already carry: re-imports skip them."""
    found: set[str] = set()
    for chunk in _chunks(guids):
        rows = connection.execute(
            select(CodingRow.guid)
            .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
            .where(IncidentRow.project_id == project.id, CodingRow.guid.in_(chunk))
        ).all()
        found.update(r.guid.lower() for r in rows)
    return found


# -- writing ----------------------------------------------------------------------------------
def set_coder_guid(connection: Connection, coder_pk: int, guid: str) -> None:
    connection.execute(update(CoderRow).where(CoderRow.id == coder_pk).values(guid=guid))


def set_code_guids(connection: Connection, codebook_pk: int, guids: dict[tuple[str, str], str]) -> None:
    """Give the codes of a freshly attached codebook the GUIDs the file gave them."""
    for (dimension, code_id), guid in guids.items():
        connection.execute(
            update(CodeRow)
            .where(CodeRow.codebook_pk == codebook_pk, CodeRow.dimension == dimension, CodeRow.code_id == code_id)
            .values(guid=guid)
        )


def insert_incidents(
    connection: Connection,
    project: ProjectInfo,
    incidents: Sequence[NewIncident],
    import_id: int | None,
) -> dict[str, int]:
    """Insert incidents with explicit GUIDs; returns lower-cased GUID → new row id."""
    if not incidents:
        return {}
    now = utcnow()
    for chunk_start in range(0, len(incidents), 2000):
        connection.execute(
            insert(IncidentRow.__table__),
            [_incident_values(project, new, import_id, now) for new in incidents[chunk_start : chunk_start + 2000]],
        )
    found = incidents_by_guid(connection, project, [n.guid for n in incidents])
    return {guid: pk for guid, (pk, _, _) in found.items()}


def insert_codings(connection: Connection, codings: Sequence[NewCoding]) -> None:
    """Insert codings with explicit GUIDs on the caller's transaction."""
    if not codings:
        return
    now = utcnow()
    for chunk_start in range(0, len(codings), 5000):
        connection.execute(
            insert(CodingRow.__table__),
            [
                {
                    "incident_id": c.incident_pk,
                    "coder_id": c.coder_pk,
                    "codebook_pk": c.codebook_pk,
                    "dimension": c.dimension,
                    "code_id": c.code_id,
                    "start": c.start,
                    "end": c.end,
                    "confidence": None,
                    "evidence": [],
                    "round_id": None,
                    "memo": c.memo,
                    "guid": c.guid,
                    "created_at": c.created_at or now,
                    "updated_at": c.created_at or now,
                }
                for c in codings[chunk_start : chunk_start + 5000]
            ],
        )


# -- helpers ----------------------------------------------------------------------------------
def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _incident_values(project: ProjectInfo, new: NewIncident, import_id: int | None, now: datetime) -> dict[str, Any]:
    return incident_values(project, new.incident, new.guid, import_id, new.created_at or now)


def _incident_record(row: Any) -> IncidentRecord:
    values = row._mapping
    return IncidentRecord(
        pk=values["id"],
        guid=values["guid"],
        created_at=values["created_at"],
        incident=Incident(
            external_id=values["external_id"],
            text=values["text"],
            source=values["source"],
            relationship_type=values["relationship_type"],
            channel=values["channel"],
            occurred_at=values["occurred_at"],
            customer_id=values["customer_id"],
            thread_id=values["thread_id"],
            thread_position=values["thread_position"],
            metadata=dict(values["metadata"] or {}),
        ),
    )


def _coding_record(row: Any) -> CodingRecord:
    return CodingRecord(
        guid=row.guid,
        incident_pk=row.incident_id,
        coder_pk=row.coder_id,
        dimension=row.dimension,
        code_id=row.code_id,
        start=row.start,
        end=row.end,
        confidence=row.confidence,
        evidence=list(row.evidence or []),
        round_id=row.round_id,
        memo=row.memo,
        created_at=row.created_at,
    )


def coding_counts_by_codebook(connection: Connection, project: ProjectInfo) -> dict[int, int]:
    """Codebook row id → number of codings under it, for the project."""
    rows = connection.execute(
        select(CodingRow.codebook_pk, func.count())
        .join(CodebookRow, CodingRow.codebook_pk == CodebookRow.id)
        .where(CodebookRow.project_id == project.id)
        .group_by(CodingRow.codebook_pk)
    ).all()
    return {pk: count for pk, count in rows}


def codebook_source(connection: Connection, codebook_pk: int) -> tuple[str, str]:
    """(``id@version``, YAML text) of a stored codebook, read on the caller's connection."""
    row = connection.execute(
        select(CodebookRow.codebook_id, CodebookRow.version, CodebookRow.source_text).where(
            CodebookRow.id == codebook_pk
        )
    ).one()
    return f"{row.codebook_id}@{row.version}", row.source_text
