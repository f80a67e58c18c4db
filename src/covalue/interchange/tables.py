"""Export incidents and codings as CSV, Parquet or JSON Lines.

Writers stream in batches and write to a temporary file beside the target, renamed into
place only when complete: an interrupted export never leaves a truncated file behind.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from covalue.errors import CovalueError
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook
from covalue.model.incident import Coding, Incident
from covalue.model.labels import ID_COLUMN, format_label_value
from covalue.store.repository import ProjectInfo, Store

Format = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
INCIDENT_COLUMNS = (
    "item_id",
    "text",
    "source",
    "relationship_type",
    "channel",
    "date",
    "customer_id",
    "thread_id",
    "thread_position",
    "metadata",
)
CODING_COLUMNS = (
    "item_id",
    "coder",
    "codebook",
    "dimension",
    "code",
    "start",
    "end",
    "confidence",
    "evidence",
    "round",
    "memo",
)
_BATCH = 5000


def format_from_path(path: str | Path, explicit: str | None = None) -> str:
    """The table format named explicitly or by the file's extension."""
    if explicit:
        if explicit not in FORMATS:
            raise CovalueError(f"unknown export format {explicit!r}; choose one of {', '.join(FORMATS)}")
        return explicit
    suffix = Path(path).suffix.lower().lstrip(".")
    aliases = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl"}
    if suffix not in aliases:
        raise CovalueError(
            f"cannot tell the export format of {str(path)!r} from its extension; use .csv, .parquet or "
            ".jsonl, or pass --format"
        )
    return aliases[suffix]


def export_incidents(store: Store, project: ProjectInfo, path: str | Path, fmt: str | None = None) -> int:
    """Write every incident of ``project``; returns how many."""
    rows = (_incident_row(i) for i in store.iter_incidents(project))
    return write_rows(rows, INCIDENT_COLUMNS, path, format_from_path(path, fmt), nested={"metadata"})


def export_codings(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    fmt: str | None = None,
    *,
    coder: str | None = None,
    codebook: tuple[int, Codebook] | None = None,
    layout: Literal["long", "guide"] = "long",
) -> int:
    """Write codings: ``long`` is one row per coding; ``guide`` is the annotation-guide layout.

    The guide layout (one row per incident, one ``;``-joined column per dimension) needs a
    single coder and codebook, because a row says what one coder decided.
    """
    fmt = format_from_path(path, fmt)
    codebook_pk = codebook[0] if codebook else None
    if layout == "guide":
        if coder is None or codebook is None:
            raise CovalueError("the guide layout needs one coder (--coder) and a codebook (--codebook)")
        dimensions = codebook[1].dimension_ids
        grouped = store.iter_codings_by_incident(project, coder=coder, codebook_pk=codebook_pk)
        rows = (_guide_row(item_id, codings, dimensions) for item_id, codings in grouped)
        return write_rows(rows, (ID_COLUMN, *dimensions), path, fmt)
    codings = store.iter_codings(project, coder=coder, codebook_pk=codebook_pk)
    return write_rows((_coding_row(c) for c in codings), CODING_COLUMNS, path, fmt, nested={"evidence"})


def write_rows(
    rows: Iterable[dict[str, Any]],
    columns: tuple[str, ...],
    path: str | Path,
    fmt: str,
    nested: set[str] | None = None,
) -> int:
    """Stream dict rows to ``path`` atomically; ``nested`` columns hold JSON-able objects."""
    nested = nested or set()
    writer = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}[fmt]
    with atomic_path(path) as tmp:
        return writer(rows, columns, tmp, nested)


def _write_csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], path: Path, nested: set[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c), c in nested) for c in columns])
            count += 1
    return count


def _write_jsonl(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], path: Path, nested: set[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False, default=str))
            handle.write("\n")
            count += 1
    return count


def _write_parquet(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], path: Path, nested: set[str]) -> int:
    """Parquet with a fixed schema; nested values are stored as JSON text (portable to any reader)."""
    count = 0
    writer: pq.ParquetWriter | None = None
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal writer
        table = pa.Table.from_pylist(
            [{c: (_cell(r.get(c), True) if c in nested else r.get(c)) for c in columns} for r in batch]
        )
        if writer is None:
            writer = pq.ParquetWriter(path, _parquet_schema(table.schema))
        writer.write_table(table.cast(writer.schema))

    try:
        for row in rows:
            batch.append(row)
            count += 1
            if len(batch) >= _BATCH:
                flush()
                batch = []
        if batch or writer is None:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return count


def _parquet_schema(inferred: pa.Schema) -> pa.Schema:
    """Columns that were all empty in the first batch become strings, not nulls."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in inferred]
    return pa.schema(fields)


def _cell(value: Any, as_json: bool) -> Any:
    if value is None:
        return "" if not as_json else None
    if as_json:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def _incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "item_id": incident.external_id,
        "text": incident.text,
        "source": incident.source,
        "relationship_type": incident.relationship_type,
        "channel": incident.channel,
        "date": incident.occurred_at.isoformat() if incident.occurred_at else None,
        "customer_id": incident.customer_id,
        "thread_id": incident.thread_id,
        "thread_position": incident.thread_position,
        "metadata": incident.metadata,
    }


def _coding_row(coding: Coding) -> dict[str, Any]:
    return {
        "item_id": coding.incident_id,
        "coder": coding.coder,
        "codebook": coding.codebook,
        "dimension": coding.dimension,
        "code": coding.code_id,
        "start": coding.span.start if coding.span else None,
        "end": coding.span.end if coding.span else None,
        "confidence": coding.confidence,
        "evidence": [[s.start, s.end] for s in coding.evidence],
        "round": coding.round,
        "memo": coding.memo,
    }


def _guide_row(item_id: str, codings: list[Coding], dimensions: list[str]) -> dict[str, Any]:
    cells: dict[str, list[str]] = {d: [] for d in dimensions}
    for coding in codings:
        if coding.span is None and coding.dimension in cells and coding.code_id not in cells[coding.dimension]:
            cells[coding.dimension].append(coding.code_id)
    return {ID_COLUMN: item_id, **{d: format_label_value(codes) for d, codes in cells.items()}}
