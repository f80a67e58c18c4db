"""The local engine: run a coder over a file or a project in batches, with flat memory.

File mode writes the annotation-guide CSV (one row per incident) and a sibling
``.evidence.jsonl`` with each decision's confidence and evidence spans; both are written to
temporary files and renamed into place only when complete. Project mode stores the codings of
each batch in one transaction and skips incidents the coder has already coded, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from covalue.coding.base import IncidentCoder, IncidentCoding, coder_info
from covalue.fileio import atomic_path, evidence_path
from covalue.ingest.importer import mapped_incidents
from covalue.ingest.mapping import ColumnMapping, RecordMapper
from covalue.ingest.readers import open_reader
from covalue.model.incident import Incident
from covalue.model.labels import ID_COLUMN, format_label_value
from covalue.store.repository import ProjectInfo, Store

Progress = Callable[[int], None]
DEFAULT_BATCH = 256


@dataclass
class RunReport:
    incidents: int = 0
    codings: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.incidents / self.seconds if self.seconds > 0 else 0.0


def code_file(
    coder: IncidentCoder,
    source: str | Path,
    out: str | Path,
    *,
    columns: dict[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    workers: int = 1,
    progress: Progress | None = None,
) -> RunReport:
    """Code every incident of ``source`` and write ``out`` plus its evidence file.

    ``workers > 1`` codes batches in that many processes (results keep input order, so the
    output is the same as with one worker).
    """
    out = Path(out)
    started = time.perf_counter()
    report = RunReport()
    dimensions = coder.codebook.dimension_ids
    with open_reader(source) as reader, atomic_path(out) as csv_tmp, atomic_path(evidence_path(out)) as jsonl_tmp:
        mapping = ColumnMapping.detect(reader.columns, str(source), **(columns or {}))
        mapper = RecordMapper(mapping)
        with (
            csv_tmp.open("w", encoding="utf-8", newline="") as table,
            jsonl_tmp.open("w", encoding="utf-8") as log,
        ):
            writer = csv.writer(table)
            writer.writerow([ID_COLUMN, *dimensions])
            batches = _batches(mapped_incidents(reader, mapper), batch_size)
            for batch, codings in predict_batches(coder, batches, workers):
                for incident, coding in zip(batch, _align(batch, codings), strict=True):
                    if coding is None:
                        report.skipped += 1
                        continue
                    writer.writerow([incident.external_id, *(format_label_value(coding.codes(d)) for d in dimensions)])
                    log.write(json.dumps(_evidence_record(incident, coding), ensure_ascii=False) + "\n")
                    report.codings += sum(len(v) for v in coding.decisions.values())
                report.incidents += len(batch)
                if progress is not None:
                    progress(report.incidents)
    report.seconds = time.perf_counter() - started
    return report


_WORKER_CODER: IncidentCoder | None = None


def predict_batches(
    coder: IncidentCoder, batches: Iterable[list[Incident]], workers: int = 1
) -> Iterator[tuple[list[Incident], list[IncidentCoding]]]:
    """(batch, codings) pairs in input order, computed here or in ``workers`` processes.

    Worker processes are forked with the coder already loaded, so the model is loaded once,
    not once per batch; at most ``2 * workers`` batches are in flight, so memory stays flat.
    """
    if workers <= 1:
        for batch in batches:
            yield (
                batch,
                coder.predict([i.text for i in batch], [i.source for i in batch], [i.external_id for i in batch]),
            )
        return
    global _WORKER_CODER
    _WORKER_CODER = coder
    # Each worker is one process on one core; the tokenizer's own threads would only compete.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append((batch, pool.apply_async(_predict_in_worker, (batch,))))
            if len(pending) >= 2 * workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


def _predict_in_worker(batch: list[Incident]) -> list[IncidentCoding]:
    assert _WORKER_CODER is not None
    return _WORKER_CODER.predict([i.text for i in batch], [i.source for i in batch], [i.external_id for i in batch])


def code_project(
    coder: IncidentCoder,
    store: Store,
    project: ProjectInfo,
    *,
    model: str,
    batch_size: int = DEFAULT_BATCH,
    limit: int | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Code the project's incidents not yet coded by this coder; one transaction per batch."""
    started = time.perf_counter()
    report = RunReport()
    codebook_pk = store.add_codebook(project, coder.codebook)
    info = coder_info(coder, model)
    coder_id = store.ensure_coder(project, info)
    pending = store.iter_incidents(project, uncoded_by=(coder_id, codebook_pk))
    for batch in _batches(pending, batch_size, limit):
        codings = coder.predict([i.text for i in batch], [i.source for i in batch], [i.external_id for i in batch])
        rows = [c for coding in codings for c in coding.to_codings(info.name)]
        with store.connection() as connection:
            pks = store.incident_pks(connection, project, [i.external_id for i in batch])
            store.insert_codings(connection, project, codebook_pk, rows, {info.name: coder_id}, pks)
        report.incidents += len(batch)
        report.skipped += len(batch) - len(codings)
        report.codings += len(rows)
        if progress is not None:
            progress(report.incidents)
    report.seconds = time.perf_counter() - started
    return report


def _batches(items: Iterator[Incident], size: int, limit: int | None = None) -> Iterator[list[Incident]]:
    batch: list[Incident] = []
    for taken, item in enumerate(items):
        if limit is not None and taken >= limit:
            break
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _align(batch: list[Incident], codings: list[IncidentCoding]) -> list[IncidentCoding | None]:
    """Codings in batch order; None where a coder (the LLM one) gave up on an incident."""
    by_id = {c.incident_id: c for c in codings}
    return [by_id.get(i.external_id) for i in batch]


def _evidence_record(incident: Incident, coding: IncidentCoding) -> dict:
    return {
        "item_id": incident.external_id,
        "decisions": [
            {
                "dimension": dimension,
                "code": decision.code,
                "confidence": round(float(decision.confidence), 4),
                "evidence": [[s.start, s.end] for s in decision.evidence],
                "evidence_text": [incident.text[s.start : s.end] for s in decision.evidence],
            }
            for dimension, decisions in coding.decisions.items()
            for decision in decisions
        ],
    }
