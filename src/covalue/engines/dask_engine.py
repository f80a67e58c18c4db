"""The Dask engine: code millions of incidents on a cluster, with the same results as the local engine.

File mode (:func:`code_dask`) cuts the input shards into partitions (see
:mod:`covalue.engines.shards`), codes each partition on a worker and writes it as one Parquet file
``part-00012.parquet``: ``item_id``, the incident metadata the report groups by, one column per
dimension holding the ``;``-joined codes exactly as the local engine's CSV, and ``confidence`` and
``evidence`` as JSON text. Outputs are written atomically and a rerun skips finished partitions, so
a killed worker (Dask reruns its tasks elsewhere) or a killed job (rerun it) never loses or
duplicates codings.

Project mode (:func:`code_project_dask`) streams the project's uncoded incidents to the workers and
stores each partition's codings in one transaction, with the local engine's resume semantics.

Workers load the model once each (a :class:`CoderPreload` plugin warms a per-process cache keyed by
the model folder); tasks carry only the model's name or path, never a pickled model. Batches start at
the same rows as in the local engine, so the coder sees the same batches and gives the same answers.

The aggregates at the end (:func:`reasons_timing_relationship`, :func:`trend`, :func:`cooccurrence`)
read the Parquet output partition by partition, so the report works on corpora that do not fit in
memory.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from covalue.coding.base import IncidentCoding, coder_info
from covalue.engines.local import DEFAULT_BATCH, _align, _batches
from covalue.engines.shards import (
    PART_GLOB,
    SUCCESS_FILE,
    Partition,
    expand_sources,
    fingerprint,
    finish_job,
    job_hash,
    plan_partitions,
    read_partition,
    start_job,
    write_table_atomic,
)
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.model.incident import Incident
from covalue.model.labels import ID_COLUMN, SEPARATOR, format_label_value

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from covalue.coding.supervised import SupervisedCoder
    from covalue.store.repository import ProjectInfo, Store

#: Rows per partition: big enough that task overhead (~ms) is noise, small enough to balance load
#: and to bound a worker's memory; a multiple of the batch size so batches line up with the local engine.
DEFAULT_PARTITION_ROWS = 32 * DEFAULT_BATCH
#: Environment for worker processes we start: one BLAS/OpenMP/tokenizer thread per single-threaded worker.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
#: Incident metadata carried into the output, for aggregation without the incidents file.
META_COLUMNS = (
    "source",
    "channel",
    "relationship_type",
    "occurred_at",
    "customer_id",
    "thread_id",
    "thread_position",
    "segment",
    "provider",
)
CONFIDENCE_COLUMN = "confidence"
EVIDENCE_COLUMN = "evidence"

Progress = Callable[[int, int], None]


@dataclass
class DaskRunReport:
    """What a Dask run did; ``incidents``/``codings`` count this run's work, skipped partitions aside."""

    partitions: int = 0
    partitions_skipped: int = 0
    incidents: int = 0
    codings: int = 0
    total_incidents: int = 0
    workers: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.incidents / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------------------------
# The cluster


@contextmanager
def dask_client(
    scheduler: str | None = None, *, n_workers: int | None = None, memory_limit: str | None = "auto"
) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started (and stopped) here.

    The local cluster uses processes with one thread each: the coder holds the GIL in Python code
    (tokenising, decoding), so threads would not run in parallel, and each process limits BLAS to
    one thread so that ``n_workers`` processes use ``n_workers`` cores, not more.
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit=memory_limit,
            env=WORKER_ENV,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def worker_count(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


# --------------------------------------------------------------------------------------------
# The coder on the workers: loaded once per worker process

_CODERS: dict[tuple[str, int], SupervisedCoder] = {}
_CODERS_LOCK = threading.Lock()
#: How many times this process loaded a model (tests check it stays at one per model).
LOADS: dict[str, int] = {}


def model_key(model: str | Path) -> str:
    """A folder path as an absolute path (same on every machine with a shared mount); a bundled name as is."""
    path = Path(model)
    return str(path.resolve()) if path.exists() else str(model)


def worker_coder(model: str) -> SupervisedCoder:
    """The coder for ``model`` in this process, loaded on first use and then reused by every task.

    Keyed by the model folder's manifest time too, so a model retrained into the same folder is
    loaded afresh by long-lived workers instead of being served stale.
    """
    from covalue.coding.training import load_model

    manifest = Path(model) / "manifest.json"
    key = (model, manifest.stat().st_mtime_ns if manifest.exists() else 0)
    with _CODERS_LOCK:
        coder = _CODERS.get(key)
        if coder is None:
            coder = load_model(model)
            _CODERS[key] = coder
            LOADS[model] = LOADS.get(model, 0) + 1
        return coder


def worker_loads() -> dict[str, int]:
    """Model loads in this process so far (run on every worker with ``client.run(worker_loads)``)."""
    return dict(LOADS)


def _limit_threads() -> None:
    """One BLAS thread per worker thread, also on workers started by hand without our environment."""
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    threadpool_limits(limits=1)


def _make_preload_plugin(model: str) -> Any:
    """A WorkerPlugin that loads the model when a worker joins (also workers restarted after a crash)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CoderPreload(WorkerPlugin):
        name = f"covalue-coder:{model}"

        def __init__(self, model: str) -> None:
            self.model = model

        def setup(self, worker: Any) -> None:
            _limit_threads()
            worker_coder(self.model)

    return CoderPreload(model)


def prepare_workers(client: Client, model: str) -> None:
    """Register the preload plugin; idempotent, so a second job with the same model costs nothing."""
    plugin = _make_preload_plugin(model)
    client.register_plugin(plugin, name=plugin.name)


# --------------------------------------------------------------------------------------------
# One partition


@dataclass(frozen=True)
class PartitionTask:
    """Everything a worker needs for one partition: small, so the task graph stays small."""

    partition: Partition
    out_dir: str
    model: str
    version: str
    batch_size: int
    columns: dict[str, str] = field(default_factory=dict)


def code_partition(task: PartitionTask) -> tuple[int, int, int]:
    """Code one partition and write its Parquet file; (index, incidents, codes).

    Skips a partition whose output exists (written atomically, so it is complete): a task that
    Dask runs twice after a worker loss, or a rerun, does no duplicate work.
    """
    import pyarrow.parquet as pq

    target = Path(task.out_dir) / task.partition.name
    if target.exists():
        return task.partition.index, pq.ParquetFile(str(target)).metadata.num_rows, -1
    coder = _checked_coder(task.model, task.version)
    incidents: list[Incident] = []
    codings: list[IncidentCoding | None] = []
    for batch in _batches(read_partition(task.partition, task.columns), task.batch_size):
        found = coder.predict([i.text for i in batch], [i.source for i in batch], [i.external_id for i in batch])
        incidents.extend(batch)
        codings.extend(_align(batch, found))
    kept = [(i, c) for i, c in zip(incidents, codings, strict=True) if c is not None]
    table = codings_table(kept, coder.codebook)
    write_table_atomic(table, target)
    codes = sum(len(v) for _, c in kept for v in c.decisions.values())
    return task.partition.index, len(kept), codes


def _checked_coder(model: str, version: str) -> SupervisedCoder:
    """The worker's coder, refusing a different model version (a worker with another covalue install)."""
    coder = worker_coder(model)
    if coder.version != version:
        raise CovalueError(f"worker has model {model!r} version {coder.version}, the job needs {version}")
    return coder


def predict_partition(model: str, version: str, incidents: list[Incident], batch_size: int) -> list[IncidentCoding]:
    """Project mode's task: the codings of a list of incidents, batched as the local engine batches them."""
    coder = _checked_coder(model, version)
    result: list[IncidentCoding] = []
    for start in range(0, len(incidents), batch_size):
        batch = incidents[start : start + batch_size]
        result.extend(coder.predict([i.text for i in batch], [i.source for i in batch], [i.external_id for i in batch]))
    return result


def output_schema(codebook: Codebook) -> Any:
    """One fixed schema, so empty partitions and all-null columns read back with the same types."""
    import pyarrow as pa

    fields = [pa.field(ID_COLUMN, pa.string())]
    for name in META_COLUMNS:
        kind = {"occurred_at": pa.timestamp("us", tz="UTC"), "thread_position": pa.int64()}.get(name, pa.string())
        fields.append(pa.field(name, kind))
    fields += [pa.field(d, pa.string()) for d in codebook.dimension_ids]
    fields += [pa.field(CONFIDENCE_COLUMN, pa.string()), pa.field(EVIDENCE_COLUMN, pa.string())]
    return pa.schema(fields)


def codings_table(rows: Sequence[tuple[Incident, IncidentCoding]], codebook: Codebook) -> Any:
    """The output table of (incident, coding) pairs, in input order."""
    import pyarrow as pa

    schema = output_schema(codebook)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for incident, coding in rows:
        columns[ID_COLUMN].append(incident.external_id)
        for name, value in _meta_values(incident).items():
            columns[name].append(value)
        for dimension in codebook.dimension_ids:
            columns[dimension].append(format_label_value(coding.codes(dimension)))
        confidence, evidence = _decision_json(coding)
        columns[CONFIDENCE_COLUMN].append(confidence)
        columns[EVIDENCE_COLUMN].append(evidence)
    return pa.table({name: pa.array(columns[name], schema.field(name).type) for name in schema.names}, schema=schema)


def _meta_values(incident: Incident) -> dict[str, Any]:
    """Metadata as the analysis frame derives it (``provider`` falls back to ``source``)."""
    from datetime import UTC

    occurred = incident.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    segment = _text_or_none(incident.metadata.get("segment"))
    return {
        "source": incident.source,
        "channel": incident.channel,
        "relationship_type": incident.relationship_type,
        "occurred_at": occurred,
        "customer_id": incident.customer_id,
        "thread_id": incident.thread_id,
        "thread_position": incident.thread_position,
        "segment": segment,
        "provider": _text_or_none(incident.metadata.get("provider")) or incident.source,
    }


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _decision_json(coding: IncidentCoding) -> tuple[str, str]:
    """``{"dimension:code": confidence}`` (rounded as in the local evidence file) and ``{"dimension:code": spans}``."""
    confidence: dict[str, float] = {}
    evidence: dict[str, list[list[int]]] = {}
    for dimension, decisions in coding.decisions.items():
        for decision in decisions:
            key = f"{dimension}:{decision.code}"
            confidence[key] = round(float(decision.confidence), 4)
            if decision.evidence:
                evidence[key] = [[s.start, s.end] for s in decision.evidence]
    return json.dumps(confidence), json.dumps(evidence)


# --------------------------------------------------------------------------------------------
# File mode


def code_dask(
    model: str | Path,
    source: str | Path,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    client: Client | None = None,
    n_workers: int | None = None,
    columns: dict[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DaskRunReport:
    """Code every incident of ``source`` (file, glob or folder of shards) into Parquet parts in ``out_dir``.

    Uses ``client`` if given, else connects to ``scheduler``, else starts a LocalCluster of
    ``n_workers`` processes. Input and output paths must be visible to every worker (shared
    storage on a real cluster). ``progress(done, total)`` is called as partitions finish.
    """
    if client is None:
        with dask_client(scheduler, n_workers=n_workers) as own:
            return code_dask(
                model, source, out_dir, client=own, columns=columns, batch_size=batch_size,
                partition_rows=partition_rows, overwrite=overwrite, progress=progress,
            )  # fmt: skip
    started = time.perf_counter()
    key = model_key(model)
    coder = worker_coder(key)  # the driver needs the codebook and version; cached like on a worker
    out = Path(out_dir)
    files = expand_sources(source)
    rows = _aligned(partition_rows, batch_size)
    partitions = plan_partitions(files, rows)
    job = _job_description(coder, key, files, rows, batch_size, columns or {})
    start_job(out, job, overwrite=overwrite)
    todo = [p for p in partitions if not (out / p.name).exists()]
    report = DaskRunReport(partitions=len(partitions), partitions_skipped=len(partitions) - len(todo))
    report.workers = worker_count(client)
    pending = {p.index for p in todo}
    counts = {p.index: _rows_of(out / p.name) for p in partitions if p.index not in pending}
    if todo:
        (out / SUCCESS_FILE).unlink(missing_ok=True)  # a part is missing again: the job is not complete now
        prepare_workers(client, key)
        folder = str(out.resolve())
        tasks = [PartitionTask(p, folder, key, coder.version, batch_size, dict(columns or {})) for p in todo]
        _run_tasks(client, tasks, job["sha256"], counts, report, progress, len(partitions))
    elif progress is not None:
        progress(len(partitions), len(partitions))
    finish_job(out, job, counts, partitions)
    report.total_incidents = sum(counts.values())
    report.seconds = time.perf_counter() - started
    return report


def _aligned(partition_rows: int, batch_size: int) -> int:
    """Round up to whole batches, so every partition starts where a local-engine batch starts."""
    if partition_rows < 1 or batch_size < 1:
        raise CovalueError("partition rows and batch size must be positive")
    return -(-partition_rows // batch_size) * batch_size


def _job_description(
    coder: SupervisedCoder, model: str, files: list[Path], rows: int, batch_size: int, columns: dict[str, str]
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "format": 1,
        "model": model,
        "coder": coder.name,
        "version": coder.version,
        "codebook": coder.codebook.key,
        "dimensions": coder.codebook.dimension_ids,
        "inputs": fingerprint(files),
        "partition_rows": rows,
        "batch_size": batch_size,
        "columns": columns,
    }
    job["sha256"] = job_hash(job)
    return job


def _rows_of(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(str(path)).metadata.num_rows


def _run_tasks(
    client: Client,
    tasks: list[PartitionTask],
    job_sha: str,
    counts: dict[int, int],
    report: DaskRunReport,
    progress: Progress | None,
    total: int,
) -> None:
    """Submit every partition and collect results as they finish; the first failure cancels the rest.

    A task lost with its worker is rerun by Dask on another worker; one that Dask runs twice
    writes the same file twice (atomically), so nothing is duplicated either way.
    """
    from distributed import as_completed

    futures = [
        client.submit(code_partition, task, key=f"covalue-code-{job_sha[:8]}-{task.partition.index:05d}-{uuid4().hex}")
        for task in tasks
    ]
    done = total - len(tasks)
    try:
        for future in as_completed(futures):
            index, incidents, codes = future.result()
            counts[index] = incidents
            if codes >= 0:
                report.incidents += incidents
                report.codings += codes
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        client.cancel([f for f in futures if not f.done()])


# --------------------------------------------------------------------------------------------
# Project mode


def code_project_dask(
    model: str | Path,
    store: Store,
    project: ProjectInfo,
    *,
    client: Client,
    model_description: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> DaskRunReport:
    """Code the project's incidents not yet coded by this coder on the cluster; one transaction per partition.

    The driver streams uncoded incidents from the store (workers need no database access) with at
    most two partitions per worker in flight, so memory stays flat; each finished partition's
    codings are stored in one transaction. An interrupted run resumes: stored partitions are
    skipped by the store's "uncoded by" filter, unstored ones are coded again.
    """
    from distributed import as_completed

    started = time.perf_counter()
    key = model_key(model)
    coder = worker_coder(key)
    info = coder_info(coder, model_description or f"supervised:{model}")
    codebook_pk = store.add_codebook(project, coder.codebook)
    coder_id = store.ensure_coder(project, info)
    report = DaskRunReport(workers=worker_count(client))
    prepare_workers(client, key)
    pending = store.iter_incidents(project, uncoded_by=(coder_id, codebook_pk))
    partitions = _batches(pending, _aligned(partition_rows, batch_size), limit)
    finished = as_completed()

    def submit_next() -> bool:
        batch = next(partitions, None)
        if batch is not None:
            finished.add(client.submit(predict_partition, key, coder.version, batch, batch_size, pure=False))
            report.partitions += 1
        return batch is not None

    for _ in range(2 * max(report.workers, 1)):
        if not submit_next():
            break
    for future in finished:
        codings = future.result()
        rows = [c for coding in codings for c in coding.to_codings(info.name)]
        with store.connection() as connection:
            pks = store.incident_pks(connection, project, [c.incident_id for c in codings])
            store.insert_codings(connection, project, codebook_pk, rows, {info.name: coder_id}, pks)
        report.incidents += len(codings)
        report.codings += len(rows)
        if progress is not None:
            progress(report.incidents)
        submit_next()
    report.total_incidents = report.incidents
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------------------------
# Reading the output and aggregating it on Dask
#
# The report's views (covalue.analysis.views) count incidents, and counts add up across
# partitions. So each aggregate runs the pandas view on one part at a time on a worker (the
# part as the analysis frame), keeps only the counts, sums them in a tree on the cluster, and
# derives the shares and the order of rows and columns from the sums exactly as the view does
# on the whole frame. Memory is one part per worker and a small count table on the driver.


def part_files(out_dir: str | Path) -> list[Path]:
    """The job's part files in partition order; refuses an unfinished job (its counts would be short)."""
    from covalue.engines.shards import is_complete

    out = Path(out_dir)
    if not is_complete(out):
        raise CovalueError(f"{out} has no _SUCCESS marker: the coding job has not finished (rerun it to complete)")
    return sorted(out.glob(PART_GLOB))


def read_codings(out_dir: str | Path, columns: list[str] | None = None) -> Any:
    """The job's output as a Dask DataFrame, one partition per part file (for ad-hoc analyses)."""
    import dask.dataframe as dd

    return dd.read_parquet([str(p) for p in part_files(out_dir)], columns=columns)


def read_frame(path: str | Path, codebook: Codebook) -> pd.DataFrame:
    """One part file as the analysis frame (without text and evidence, which no count needs)."""
    import pyarrow.parquet as pq

    columns = [ID_COLUMN, *META_COLUMNS, *codebook.dimension_ids]
    return to_frame(pq.read_table(str(path), columns=columns).to_pandas(), codebook)


def to_frame(part: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Output rows in the shape of :mod:`covalue.analysis.frame`: tuples for multi-valued dimensions, None for none."""
    import pandas as pd

    frame = pd.DataFrame({name: part[name].astype(object).where(part[name].notna(), None) for name in part.columns})
    frame["occurred_at"] = pd.to_datetime(part["occurred_at"], utc=True)
    frame["thread_position"] = part["thread_position"].astype("Int64")
    for dimension in codebook.dimension_ids:
        values = [v if isinstance(v, str) else "" for v in part[dimension]]
        if codebook.is_multi(dimension):
            frame[dimension] = [tuple(v.split(SEPARATOR)) if v else () for v in values]
        else:
            frame[dimension] = [v or None for v in values]
    if EVIDENCE_COLUMN in part:
        frame[EVIDENCE_COLUMN] = [json.loads(v) if isinstance(v, str) and v else {} for v in part[EVIDENCE_COLUMN]]
    return frame


def _tree_reduce(
    out_dir: str | Path,
    partial: Callable[..., Any],
    merge: Callable[[Any, Any], Any],
    args: tuple,
    client: Client | None,
) -> Any:
    """``partial(path, *args)`` per part on the workers, merged eight at a time; the merged result."""
    import dask

    pieces = [dask.delayed(partial)(str(path), *args) for path in part_files(out_dir)]
    if not pieces:
        return None
    while len(pieces) > 1:
        pieces = [dask.delayed(_merge_all)(merge, pieces[k : k + 8]) for k in range(0, len(pieces), 8)]
    if client is not None:
        return client.compute(pieces[0], sync=True)
    return pieces[0].compute()


def _merge_all(merge: Callable[[Any, Any], Any], pieces: list[Any]) -> Any:
    result = None
    for piece in pieces:
        result = piece if result is None else result if piece is None else merge(result, piece)
    return result


def _add(a: Any, b: Any) -> Any:
    """Sum two count tables or series over the union of their labels (absent labels count 0)."""
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        index, columns = a.index.union(b.index, sort=False), a.columns.union(b.columns, sort=False)
        a = a.reindex(index=index, columns=columns, fill_value=0)
        b = b.reindex(index=index, columns=columns, fill_value=0)
        return (a + b).astype("int64")
    return a.add(b, fill_value=0).astype("int64")


def _share(count: float, total: float) -> float:
    """As the views compute it, so shares are bit-for-bit equal: NaN where the base is empty."""
    return float(count) / float(total) if total else float("nan")


def _code_order(codebook: Codebook, dimension: str, level: str | None, observed: Any) -> list[str]:
    """The views' code order: codable codes (or the codes at ``level``) in codebook order, then extras sorted."""
    order = (
        codebook.code_ids(dimension, codable_only=True)
        if level is None
        else [c.id for c in codebook.codes(dimension) if c.code.level == level]
    )
    known = set(order)
    return order + sorted({str(c) for c in observed if c not in known})


# -- Järvi et al. (2018) Table 3 -------------------------------------------------------------

_TABLE3_STATIC = ["level", "code", "name", "parent", "codebook_timing", "codebook_relationship_types"]


def _partial_table3(path: str, codebook: Codebook, options: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from covalue.analysis import views

    table = views.reasons_timing_relationship(read_frame(path, codebook), codebook, **options).set_index("code")
    counts = [c for c in table.columns if c == "n" or c.endswith("_n")]
    return table[[c for c in _TABLE3_STATIC if c != "code"]], table[counts].astype("int64")


def _merge_table3(a: tuple, b: tuple) -> tuple:
    return a[0], _add(a[1], b[1])


def reasons_timing_relationship(
    out_dir: str | Path,
    codebook: Codebook,
    dimension: str = "reasons",
    phase: str | None = "phase",
    *,
    valence: str | None = "valence",
    negative_codes: Sequence[str] | None = None,
    relationship_types: Sequence[str] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """:func:`covalue.analysis.views.reasons_timing_relationship` (Järvi Table 3) over the Parquet output.

    Same rows, columns and numbers as the pandas view on the whole corpus, computed part by part.
    """
    import pandas as pd

    from covalue.analysis import views

    options: dict[str, Any] = {"dimension": dimension, "phase": phase, "valence": valence}
    if negative_codes is not None:
        options["negative_codes"] = tuple(negative_codes)
    kinds = tuple(relationship_types) if relationship_types is not None else views.RELATIONSHIP_TYPES
    options["relationship_types"] = kinds
    merged = _tree_reduce(out_dir, _partial_table3, _merge_table3, (codebook, options), client)
    if merged is None:
        raise CovalueError(f"{out_dir} holds no coded incidents")
    static, counts = merged
    counts = counts.reindex(static.index).fillna(0).astype("int64")
    base = int(counts.at["(all)", "n"])
    table = static.reset_index()[_TABLE3_STATIC]
    table["n"] = counts["n"].to_numpy()
    table["share_of_codestruction"] = [_share(n, base) for n in table["n"]]
    blocks = [(views.RELATIONSHIP_PREFIX, list(kinds))]
    if phase is not None and any(c.startswith(views.PHASE_PREFIX) for c in counts.columns):
        known = codebook.code_ids(phase) if phase in codebook.dimension_ids else []
        blocks.insert(0, (views.PHASE_PREFIX, known))
    for prefix, known in blocks:
        for value in _block_order(counts.columns, prefix, known, views.UNKNOWN):
            column = counts[f"{prefix}{value}_n"].to_numpy() if f"{prefix}{value}_n" in counts else [0] * len(table)
            table[f"{prefix}{value}_n"] = pd.array(column, dtype="int64")
            table[f"{prefix}{value}_share"] = [_share(k, n) for k, n in zip(column, table["n"], strict=True)]
    return table


def _block_order(columns: Any, prefix: str, known: list[str], unknown: str) -> list[str]:
    """Values of one Table-3 block in the view's order: known ones, other observed ones sorted, unknown last."""
    observed = {c[len(prefix) : -len("_n")] for c in columns if c.startswith(prefix) and c.endswith("_n")}
    extras = sorted(observed - set(known) - {unknown})
    return [*known, *extras, *([unknown] if unknown in observed else [])]


# -- trends ------------------------------------------------------------------------------------


def _partial_trend(path: str, codebook: Codebook, options: dict[str, Any]) -> tuple[Any, Any, int] | None:
    from covalue.analysis import views

    frame = read_frame(path, codebook)
    dated = frame[frame["occurred_at"].notna()].reset_index(drop=True)
    undated = len(frame) - len(dated)
    if dated.empty:
        return None if not undated else (None, None, undated)
    table = views.breakdown(dated, codebook, by="period", **options)
    counts = table.set_index(["period", "code"])["n"].astype("int64")
    period_n = table.drop_duplicates("period").set_index("period")["group_n"].astype("int64")
    return counts, period_n, undated


def _merge_trend(a: tuple, b: tuple) -> tuple:
    def plus(x: Any, y: Any) -> Any:
        return y if x is None else x if y is None else _add(x, y)

    return plus(a[0], b[0]), plus(a[1], b[1]), a[2] + b[2]


def trend(
    out_dir: str | Path,
    codebook: Codebook,
    dimension: str,
    freq: str = "M",
    level: str | None = None,
    *,
    min_period_n: int = 1,
    include_none: bool = False,
    client: Client | None = None,
) -> Any:
    """:func:`covalue.analysis.views.trend` over the Parquet output: the same :class:`~covalue.analysis.views.Trend`.

    Per-period counts are summed across parts; shares, slopes and directions are computed from the
    sums with the view's own summary function.
    """
    import pandas as pd

    from covalue.analysis import views

    options = {"dimension": dimension, "level": level, "freq": freq, "include_none": include_none}
    merged = _tree_reduce(out_dir, _partial_trend, _merge_trend, (codebook, options), client)
    counts, period_n, undated = merged if merged is not None else (None, None, 0)
    columns = ["period", "period_start", "code", "name", "n", "period_n", "share"]
    if counts is None:
        empty = pd.DataFrame(columns=columns)
        return views.Trend(periods=empty, summary=_trend_summary(empty, {}, min_period_n), undated=undated)
    starts = {p: pd.Period(p, freq=freq) for p in period_n.index}
    ordered = sorted(period_n.index, key=lambda p: starts[p])
    codes = _code_order(codebook, dimension, level, counts.index.get_level_values("code").unique())
    if include_none:
        codes = [c for c in codes if c != views.NO_CODE] + [views.NO_CODE]
    names = views.code_names(codebook, dimension)
    records = [
        {
            "period": period,
            "period_start": starts[period].start_time,
            "code": code,
            "name": names.get(code, code),
            "n": int(counts.get((period, code), 0)),
            "period_n": int(period_n[period]),
            "share": _share(counts.get((period, code), 0), period_n[period]),
        }
        for period in ordered
        for code in codes
    ]
    table = pd.DataFrame.from_records(records, columns=columns)
    return views.Trend(periods=table, summary=_trend_summary(table, starts, min_period_n), undated=undated)


_TREND_SUMMARY_COLUMNS = [
    "code", "name", "n", "periods", "slope", "first_period", "first_share", "last_period", "last_share", "change",
    "direction",
]  # fmt: skip


def _trend_summary(table: pd.DataFrame, starts: dict[str, Any], min_period_n: int) -> pd.DataFrame:
    """The view's per-code summary (slope, first/last share, direction), by the view's own function."""
    import pandas as pd

    from covalue.analysis.views import trend_summary as summarise  # one definition of the statistic

    records = [summarise(group, starts, min_period_n) for _, group in table.groupby("code", sort=False)]
    return pd.DataFrame.from_records(records, columns=_TREND_SUMMARY_COLUMNS)


# -- co-occurrence -----------------------------------------------------------------------------


def _partial_cooccurrence(path: str, codebook: Codebook, options: dict[str, Any]) -> tuple | None:
    from covalue.analysis import views

    frame = read_frame(path, codebook)
    if frame.empty:
        return None
    matrix = views.cooccurrence(frame, codebook, **options).astype("int64")
    same = options["dim_b"] is None
    own_a = views.cooccurrence(frame, codebook, options["dim_a"], level=options["level"])
    own_b = own_a if same else views.cooccurrence(frame, codebook, options["dim_b"], level=options["level_b"])
    n_a = _diagonal(own_a)
    n_b = _diagonal(own_b)
    return matrix, n_a, n_b, len(frame)


def _diagonal(matrix: pd.DataFrame) -> pd.Series:
    """Incidents per code: the diagonal of a dimension's co-occurrence with itself."""
    import pandas as pd

    return pd.Series([int(matrix.iat[k, k]) for k in range(len(matrix))], index=list(matrix.index), dtype="int64")


def _merge_cooccurrence(a: tuple, b: tuple) -> tuple:
    return _add(a[0], b[0]), _add(a[1], b[1]), _add(a[2], b[2]), a[3] + b[3]


def cooccurrence(
    out_dir: str | Path,
    codebook: Codebook,
    dim_a: str,
    dim_b: str | None = None,
    level: str | None = None,
    *,
    level_b: str | None = None,
    measure: str = "count",
    client: Client | None = None,
) -> pd.DataFrame:
    """:func:`covalue.analysis.views.cooccurrence` over the Parquet output (count, lift or Jaccard matrix)."""
    import numpy as np
    import pandas as pd

    if measure not in ("count", "lift", "jaccard"):
        raise ValueError(f"unknown measure {measure!r}: use count, lift or jaccard")
    same = dim_b is None or (dim_b == dim_a and level_b is None)
    options = {"dim_a": dim_a, "dim_b": None if same else dim_b, "level": level, "level_b": None if same else level_b}
    merged = _tree_reduce(out_dir, _partial_cooccurrence, _merge_cooccurrence, (codebook, options), client)
    second, second_level = (dim_a, level) if same else (dim_b or dim_a, level_b)
    if merged is None:
        matrix, n_a, n_b, total = pd.DataFrame(dtype="int64"), pd.Series(dtype="int64"), pd.Series(dtype="int64"), 0
    else:
        matrix, n_a, n_b, total = merged
    rows = _code_order(codebook, dim_a, level, matrix.index)
    columns = _code_order(codebook, second, second_level, matrix.columns)
    counts = matrix.reindex(index=rows, columns=columns, fill_value=0).fillna(0).astype(int)
    counts.index.name, counts.columns.name = dim_a, second
    if measure == "count":
        return counts
    size_a = n_a.reindex(rows, fill_value=0).to_numpy(dtype=float)
    size_b = n_b.reindex(columns, fill_value=0).to_numpy(dtype=float)
    both = counts.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "lift":
            values = both * total / np.outer(size_a, size_b)
        else:
            values = both / (size_a[:, None] + size_b[None, :] - both)
    values[~np.isfinite(values)] = np.nan
    return pd.DataFrame(values, index=counts.index, columns=counts.columns)


def report_tables(
    out_dir: str | Path, model: str, *, freq: str = "M", client: Client | None = None
) -> dict[str, pd.DataFrame]:
    """The report's count tables from a job's output, named as ``views.write_tables`` writes them.

    Table 3 (when the codebook has reasons and valence), per-period trends of the valence, the
    aggregate reasons and coping, and the co-occurrence of aggregate reasons; each only for the
    dimensions the model's codebook has.
    """
    codebook = worker_coder(model_key(model)).codebook
    dimensions = set(codebook.dimension_ids)
    tables: dict[str, pd.DataFrame] = {}
    if {"reasons", "valence"} <= dimensions:
        phase = "phase" if "phase" in dimensions else None
        tables["reasons_timing_relationship"] = reasons_timing_relationship(
            out_dir, codebook, phase=phase, client=client
        )
    for dimension in ("valence", "reasons", "coping"):
        if dimension in dimensions:
            level = "aggregate" if "aggregate" in codebook.levels(dimension) else None
            result = trend(out_dir, codebook, dimension, freq, level, client=client)
            tables[f"trend_{dimension}"] = result.periods
            tables[f"trend_{dimension}_summary"] = result.summary
    if "reasons" in dimensions:
        level = "aggregate" if "aggregate" in codebook.levels("reasons") else None
        tables["cooccurrence_reasons"] = cooccurrence(out_dir, codebook, "reasons", level=level, client=client)
    return tables


def run_summary(report: DaskRunReport) -> dict[str, Any]:
    """The report as plain data (CLI ``--json`` and the benchmark)."""
    return {**asdict(report), "per_second": report.per_second}
