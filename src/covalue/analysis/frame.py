"""The coded corpus as one table: an incident a row, its metadata and one coder's codes.

Every framework view, the loss-spiral detector and the report read this one shape, so they
do not care whether the codes came from the store, an annotation-guide CSV or the automatic
coder's output file. Columns:

- ``item_id``, ``source``, ``relationship_type``, ``channel``, ``occurred_at`` (timezone-aware
  UTC timestamps, ``NaT`` when unknown), ``customer_id``, ``thread_id``, ``thread_position``,
  ``segment`` and ``provider`` (``metadata["segment"]`` and ``metadata["provider"]`` when the data
  has them; ``provider`` falls back to ``source``), ``role`` (``metadata["role"]``: who speaks in a
  thread turn, e.g. ``customer`` or ``provider``) and, unless left out, ``text``;
- one column per codebook dimension: a code id or ``None`` for single-valued dimensions, a
  tuple of code ids (empty when none) for multi-valued ones;
- ``evidence``: ``{"dimension:code": [[start, end], ...]}`` from a machine coder, else ``{}``.

Rows follow import order (or the incidents file's order); incidents a coder has not coded
are left out, since a view of uncoded incidents would count them as "no code".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from covalue.fileio import evidence_path
from covalue.framework.codebook import Codebook
from covalue.model.incident import Coding, Incident
from covalue.model.labels import LabelRow, codings_to_rows
from covalue.store.repository import ProjectInfo, Store

#: Incident metadata columns, in order.
META_COLUMNS = (
    "item_id",
    "source",
    "relationship_type",
    "channel",
    "occurred_at",
    "customer_id",
    "thread_id",
    "thread_position",
    "segment",
    "provider",
    "role",
)
EVIDENCE_COLUMN = "evidence"


def evidence_key(dimension: str, code: str) -> str:
    return f"{dimension}:{code}"


def build_frame(
    incidents: Iterable[Incident],
    rows: Mapping[str, LabelRow],
    codebook: Codebook,
    *,
    evidence: Mapping[str, Mapping[str, list[list[int]]]] | None = None,
    with_text: bool = True,
) -> pd.DataFrame:
    """Join incidents with one coder's rows (by ``item_id``) into the analysis table."""
    dimensions = codebook.dimension_ids
    records: list[dict[str, Any]] = []
    for incident in incidents:
        row = rows.get(incident.external_id)
        if row is None:
            continue
        record = _meta_record(incident, with_text)
        for dimension in dimensions:
            codes = row.values.get(dimension, ())
            record[dimension] = tuple(codes) if codebook.is_multi(dimension) else (codes[0] if codes else None)
        record[EVIDENCE_COLUMN] = dict((evidence or {}).get(incident.external_id, {}))
        records.append(record)
    columns = [*META_COLUMNS, *(["text"] if with_text else []), *dimensions, EVIDENCE_COLUMN]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["thread_position"] = frame["thread_position"].astype("Int64")
    return frame


def _meta_record(incident: Incident, with_text: bool) -> dict[str, Any]:
    occurred = incident.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    record: dict[str, Any] = {
        "item_id": incident.external_id,
        "source": incident.source,
        "relationship_type": incident.relationship_type,
        "channel": incident.channel,
        "occurred_at": occurred,
        "customer_id": incident.customer_id,
        "thread_id": incident.thread_id,
        "thread_position": incident.thread_position,
        "segment": _metadata_text(incident.metadata, "segment"),
        "provider": _metadata_text(incident.metadata, "provider") or incident.source,
        "role": _metadata_text(incident.metadata, "role"),
    }
    if with_text:
        record["text"] = incident.text
    return record


def _metadata_text(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return None if value is None or value == "" else str(value)


def evidence_of(codings: Iterable[Coding]) -> dict[str, list[list[int]]]:
    """``{"dimension:code": [[start, end], ...]}`` of a coder's incident-level codings."""
    found: dict[str, list[list[int]]] = {}
    for coding in codings:
        if coding.evidence:
            found[evidence_key(coding.dimension, coding.code_id)] = [[s.start, s.end] for s in coding.evidence]
    return found


def frame_from_store(
    store: Store,
    project: ProjectInfo,
    coder: str,
    codebook: Codebook,
    *,
    codebook_pk: int | None = None,
    with_text: bool = True,
) -> pd.DataFrame:
    """The analysis table of one coder's codings in a project."""
    rows: dict[str, LabelRow] = {}
    evidence: dict[str, dict[str, list[list[int]]]] = {}
    for item_id, codings in store.iter_codings_by_incident(project, coder=coder, codebook_pk=codebook_pk):
        for row in codings_to_rows(codings, codebook.dimension_ids):
            rows[item_id] = row
        spans = evidence_of(codings)
        if spans:
            evidence[item_id] = spans
    return build_frame(store.iter_incidents(project), rows, codebook, evidence=evidence, with_text=with_text)


def frame_from_files(
    incidents_path: str | Path,
    labels_path: str | Path,
    codebook: Codebook,
    *,
    columns: dict[str, str] | None = None,
    with_text: bool = True,
) -> pd.DataFrame:
    """The analysis table of an incidents file and an annotation-guide CSV of codes for it.

    A ``LABELS.evidence.jsonl`` beside the labels (what ``covalue code`` writes) adds evidence.
    """
    import json

    from covalue.ingest.importer import iter_file_incidents
    from covalue.ingest.labels import read_label_csv

    rows = read_label_csv(labels_path, codebook)
    evidence: dict[str, dict[str, list[list[int]]]] = {}
    log = evidence_path(Path(labels_path))
    if log.exists():
        with log.open(encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                spans = {
                    evidence_key(d["dimension"], d["code"]): d.get("evidence", [])
                    for d in entry.get("decisions", [])
                    if d.get("evidence")
                }
                if spans:
                    evidence[entry["item_id"]] = spans
    return build_frame(
        iter_file_incidents(incidents_path, columns=columns), rows, codebook, evidence=evidence, with_text=with_text
    )


def multi_counts(frame: pd.DataFrame, dimension: str) -> pd.Series:
    """Incidents per code of a multi-valued dimension (a Series indexed by code id)."""
    exploded = frame[dimension].explode().dropna()
    return exploded.value_counts()
