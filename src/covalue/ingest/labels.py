"""Import reference labels (annotation-guide CSV) as the codings of a named coder.

The file has an ``item_id`` column plus one column per codebook dimension (any subset),
values separated by ``;``. Every value is checked against the codebook and every item id
against the project; like incident imports, the whole file goes in or nothing does.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from covalue.errors import InputError
from covalue.framework.codebook import Codebook
from covalue.ingest.importer import Progress, skip_or_raise
from covalue.ingest.readers import RawRecord, RecordProblem, open_reader
from covalue.model.incident import Coder
from covalue.model.labels import ID_COLUMN, NOTE_COLUMN, LabelRow, parse_label_value, row_to_codings
from covalue.store.repository import ProjectInfo, Store

_BATCH = 2000


@dataclass
class LabelImportReport:
    file: str
    coder: str
    codebook: str
    dimensions: list[str]
    incidents: int = 0
    codings: int = 0
    replaced: int = 0
    skipped: int = 0
    problems: list[RecordProblem] = field(default_factory=list)
    seconds: float = 0.0


def import_labels(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    codebook: Codebook,
    coder: Coder,
    *,
    replace: bool = False,
    skip_bad: bool = False,
    progress: Progress | None = None,
) -> LabelImportReport:
    """Load labels from ``path`` as ``coder``'s incident-level codings under ``codebook``."""
    started = time.perf_counter()
    file = str(path)
    with open_reader(path, "csv") as reader:
        dimensions = _check_header(reader.columns, codebook, file)
        report = LabelImportReport(file=file, coder=coder.name, codebook=codebook.key, dimensions=dimensions)
        with store.connection() as connection:
            # The import row is written first, before the savepoints that add_codebook and
            # ensure_coder open: SQLite's Python driver only begins a transaction at the first
            # INSERT, and a SAVEPOINT issued before that is released with an implicit COMMIT, so a
            # failed import would have left the coder and the codebook snapshot behind.
            import_id = store.start_import(connection, project, file, "csv", "labels")
            codebook_pk = store.add_codebook(project, codebook, connection)
            coder_id = store.ensure_coder(project, coder, connection)
            already = store.coded_incident_pks(connection, coder_id, codebook_pk)
            seen: set[str] = set()
            for chunk in _chunks(_parse_rows(reader, codebook, dimensions, report, skip_bad, seen)):
                _store_chunk(
                    store,
                    connection,
                    project,
                    codebook_pk,
                    coder,
                    coder_id,
                    chunk,
                    already,
                    replace,
                    report,
                    skip_bad,
                )
                if progress is not None:
                    progress(report.incidents + report.skipped)
            store.finish_import(
                connection,
                import_id,
                report.incidents,
                report.skipped,
                [{"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in report.problems],
            )
    report.seconds = time.perf_counter() - started
    return report


def read_label_csv(path: str | Path, codebook: Codebook) -> dict[str, LabelRow]:
    """Read an annotation-guide CSV into rows keyed by ``item_id``, checking every value.

    The first problem raises :class:`InputError` naming the file, line and field. Columns may be
    any subset of the codebook's dimensions (plus ``note``); an unknown column is an error,
    because a misspelt field would otherwise be silently left out of a comparison.
    """
    rows: dict[str, LabelRow] = {}
    with open_reader(path, "csv") as reader:
        dimensions = _check_header(reader.columns, codebook, str(path))
        for record in reader:
            parsed = record
            if not isinstance(record, RecordProblem):
                parsed = _parse_record(record, codebook, dimensions, rows)
            if isinstance(parsed, RecordProblem):
                raise parsed.to_error()
            rows[parsed.item_id] = parsed
    return rows


def _check_header(columns: list[str], codebook: Codebook, file: str) -> list[str]:
    if ID_COLUMN not in columns:
        raise InputError(file, f"no {ID_COLUMN!r} column; the header is: {', '.join(columns)}", line=1, field=ID_COLUMN)
    dimensions = [c for c in columns if c in codebook.dimension_ids]
    unknown = [c for c in columns if c not in dimensions and c not in (ID_COLUMN, NOTE_COLUMN)]
    if unknown:
        raise InputError(
            file,
            f"column(s) {', '.join(unknown)} are not dimensions of codebook {codebook.key} "
            f"(dimensions: {', '.join(codebook.dimension_ids)})",
            line=1,
            field=unknown[0],
        )
    if not dimensions:
        raise InputError(file, f"no dimension columns of codebook {codebook.key}", line=1)
    return dimensions


def _parse_rows(
    reader,
    codebook: Codebook,
    dimensions: list[str],
    report: LabelImportReport,
    skip_bad: bool,
    seen: set[str],
) -> Iterator[tuple[LabelRow, int]]:
    for record in reader:
        if isinstance(record, RecordProblem):
            skip_or_raise(report, record, skip_bad)
            continue
        parsed = _parse_record(record, codebook, dimensions, seen)
        if isinstance(parsed, RecordProblem):
            skip_or_raise(report, parsed, skip_bad)
            continue
        seen.add(parsed.item_id)
        yield parsed, record.line


def _parse_record(
    record: RawRecord, codebook: Codebook, dimensions: list[str], seen: Container[str]
) -> LabelRow | RecordProblem:
    item_id = str(record.values.get(ID_COLUMN) or "").strip()
    if not item_id:
        return RecordProblem(record.file, record.line, ID_COLUMN, "empty item_id")
    if item_id in seen:
        return RecordProblem(record.file, record.line, ID_COLUMN, f"item {item_id!r} is labelled twice in this file")
    values: dict[str, tuple[str, ...]] = {}
    for dimension in dimensions:
        try:
            values[dimension] = parse_label_value(codebook, dimension, record.values.get(dimension))
        except ValueError as exc:
            return RecordProblem(record.file, record.line, dimension, str(exc))
    note = record.values.get(NOTE_COLUMN) or None
    return LabelRow(item_id=item_id, values=values, note=note)


def _chunks(rows: Iterator[tuple[LabelRow, int]]) -> Iterator[list[tuple[LabelRow, int]]]:
    chunk: list[tuple[LabelRow, int]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _store_chunk(
    store: Store,
    connection: Connection,
    project: ProjectInfo,
    codebook_pk: int,
    coder: Coder,
    coder_id: int,
    chunk: list[tuple[LabelRow, int]],
    already: set[int],
    replace: bool,
    report: LabelImportReport,
    skip_bad: bool,
) -> None:
    pks = store.incident_pks(connection, project, [row.item_id for row, _ in chunk])
    keep: list[LabelRow] = []
    for row, line in chunk:
        pk = pks.get(row.item_id)
        if pk is None:
            message = f"no incident {row.item_id!r} in project {project.name!r}; import the incidents first"
            skip_or_raise(report, RecordProblem(report.file, line, ID_COLUMN, message), skip_bad)
        elif pk in already and not replace:
            message = f"coder {coder.name!r} has already coded {row.item_id!r}; pass --replace to overwrite"
            skip_or_raise(report, RecordProblem(report.file, line, ID_COLUMN, message), skip_bad)
        else:
            keep.append(row)
    if replace:
        report.replaced += store.delete_codings(connection, coder_id, codebook_pk, [pks[r.item_id] for r in keep])
    codings = [c for row in keep for c in row_to_codings(row, coder.name)]
    store.insert_codings(connection, project, codebook_pk, codings, {coder.name: coder_id}, pks)
    report.incidents += len(keep)
    report.codings += len(codings)
