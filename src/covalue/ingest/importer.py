"""Import incidents from a file into a project: all-or-nothing, streaming, in batches.

Everything happens inside one database transaction. A bad row stops the import with an
error naming file, line and field, and the transaction rolls back, so the project is exactly
as it was. With ``skip_bad`` bad rows are left out instead and listed in the import report
(kept in the ``imports`` table), and the good rows are committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from covalue.ingest.mapping import ColumnMapping, RecordMapper
from covalue.ingest.readers import RecordProblem, open_reader
from covalue.model.incident import Incident
from covalue.store.repository import ProjectInfo, Store

#: How many skipped-row problems an import report keeps (the count is always exact).
MAX_REPORTED_PROBLEMS = 1000
DEFAULT_BATCH_SIZE = 5000

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    """What an import did; ``problems`` holds the first skipped rows when ``skip_bad`` was on."""

    file: str
    format: str
    mapping: ColumnMapping
    imported: int = 0
    skipped: int = 0
    problems: list[RecordProblem] = field(default_factory=list)
    import_id: int | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return (self.imported + self.skipped) / self.seconds if self.seconds > 0 else 0.0


class SkipReport(Protocol):
    """Any import report that counts skipped rows and keeps the first problems."""

    skipped: int
    problems: list[RecordProblem]


@dataclass
class ImportOptions:
    """Reader and mapping settings; the defaults auto-detect everything."""

    format: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # mapping field -> column name
    metadata: list[str] | None = None
    constants: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    delimiter: str | None = None
    sheet: str | None = None
    max_field_chars: int = 1_000_000
    max_text_chars: int = 100_000
    day_first: bool = False  # read 03/04/2021 as 3 April (UK/EU exports)
    skip_bad: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE


def import_incidents(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Stream ``path`` into ``project``; raise InputError (nothing written) on the first bad row."""
    options = options or ImportOptions()
    started = time.perf_counter()
    with open_reader(
        path,
        options.format,
        encoding=options.encoding,
        delimiter=options.delimiter,
        sheet=options.sheet,
        max_field_chars=options.max_field_chars,
    ) as reader:
        mapping = ColumnMapping.detect(
            reader.columns,
            str(path),
            metadata=options.metadata,
            constants=options.constants,
            **options.columns,
        )
        mapper = RecordMapper(mapping, max_text_chars=options.max_text_chars, day_first=options.day_first)
        report = ImportReport(file=str(path), format=reader.format, mapping=mapping)
        with store.connection() as connection:
            report.import_id = store.start_import(connection, project, str(path), reader.format, "incidents")
            batch = _Batch(store, connection, project, report, options.skip_bad, mapping)
            for record in reader:
                item = record if isinstance(record, RecordProblem) else mapper.map(record)
                if isinstance(item, RecordProblem):
                    skip_or_raise(report, item, options.skip_bad)
                    continue
                batch.add(item, record.line)
                if len(batch) >= options.batch_size:
                    batch.flush()
                    if progress is not None:
                        progress(report.imported + report.skipped)
            batch.flush()
            store.finish_import(
                connection,
                report.import_id,
                report.imported,
                report.skipped,
                [_problem_dict(p) for p in report.problems],
            )
    report.seconds = time.perf_counter() - started
    if progress is not None:
        progress(report.imported + report.skipped)
    return report


def iter_file_incidents(path: str | Path, *, columns: dict[str, str] | None = None) -> Iterator[Incident]:
    """Stream the incidents of a file without storing them; the first bad row raises InputError."""
    with open_reader(path) as reader:
        yield from mapped_incidents(
            reader, RecordMapper(ColumnMapping.detect(reader.columns, str(path), **(columns or {})))
        )


def mapped_incidents(reader: Iterable[Any], mapper: RecordMapper) -> Iterator[Incident]:
    """The incidents of an open reader's records; the first bad row raises InputError (nothing is skipped)."""
    for record in reader:
        item = record if isinstance(record, RecordProblem) else mapper.map(record)
        if isinstance(item, RecordProblem):
            raise item.to_error()
        yield item


def skip_or_raise(report: SkipReport, problem: RecordProblem, skip_bad: bool) -> None:
    """Stop on a bad row, or (``skip_bad``) count it and keep the first problems for the report."""
    if not skip_bad:
        raise problem.to_error()
    report.skipped += 1
    if len(report.problems) < MAX_REPORTED_PROBLEMS:
        report.problems.append(problem)


def _problem_dict(problem: RecordProblem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "field": problem.field, "message": problem.message}


class _Batch:
    """Rows waiting to be inserted, with their line numbers for error messages.

    A batch is inserted under a savepoint. A duplicate id makes the whole batch fail; it is
    then retried row by row to find (and report or skip) the offending rows. Duplicates are
    found by the database's unique index, so memory stays flat however large the file.
    """

    def __init__(
        self,
        store: Store,
        connection: Connection,
        project: ProjectInfo,
        report: ImportReport,
        skip_bad: bool,
        mapping: ColumnMapping,
    ) -> None:
        self.store = store
        self.connection = connection
        self.project = project
        self.report = report
        self.skip_bad = skip_bad
        self.id_field = mapping.id or "id"
        self.incidents: list[Incident] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.incidents)

    def add(self, incident: Incident, line: int) -> None:
        self.incidents.append(incident)
        self.lines.append(line)

    def flush(self) -> None:
        if not self.incidents:
            return
        savepoint = self.connection.begin_nested()
        try:
            self.store.insert_incidents(self.connection, self.project, self.incidents, self.report.import_id)
            savepoint.commit()
            self.report.imported += len(self.incidents)
        except IntegrityError:
            savepoint.rollback()
            self._insert_one_by_one()
        self.incidents, self.lines = [], []

    def _insert_one_by_one(self) -> None:
        for incident, line in zip(self.incidents, self.lines, strict=True):
            savepoint = self.connection.begin_nested()
            try:
                self.store.insert_incidents(self.connection, self.project, [incident], self.report.import_id)
                savepoint.commit()
                self.report.imported += 1
            except IntegrityError:
                savepoint.rollback()
                problem = RecordProblem(
                    file=self.report.file,
                    line=line,
                    field=self.id_field,
                    message=(
                        f"duplicate id {incident.external_id!r}: already in project "
                        f"{self.project.name!r} or earlier in this file"
                    ),
                )
                skip_or_raise(self.report, problem, self.skip_bad)
