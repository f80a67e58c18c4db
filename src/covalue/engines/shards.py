"""Parquet shards for the Dask engine: which inputs make up a job, how they split, and atomic outputs.

A job's input is a file, a glob or a folder of shards (Parquet, CSV, TSV, JSONL). It is cut into
*partitions*: a CSV/JSONL file is one partition (it can only be read from its start), a Parquet
file is cut into row ranges that a worker reads without touching the rest of the file. Each
partition becomes one output file ``part-00012.parquet`` in the job folder, written to a temporary
name and renamed when complete, so a file that exists is whole, and a rerun skips it.

The job folder also holds ``_job.json`` (the plan, written first, so a rerun with other input or
another model is refused instead of mixing outputs), ``_manifest.json`` (every partition with its
incident count, written last) and an empty ``_SUCCESS`` marker.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from covalue.errors import CovalueError, InputError
from covalue.ingest.importer import mapped_incidents
from covalue.ingest.mapping import ColumnMapping, RecordMapper
from covalue.ingest.readers import EXTENSIONS, ParquetReader, RawRecord, RecordProblem, detect_format, open_reader
from covalue.model.incident import Incident
from covalue.model.labels import ID_COLUMN

JOB_FILE = "_job.json"
MANIFEST_FILE = "_manifest.json"
SUCCESS_FILE = "_SUCCESS"
PART_GLOB = "part-*.parquet"
SHARD_FORMATS = ("parquet", "csv", "tsv", "jsonl")


@dataclass(frozen=True)
class Partition:
    """Rows ``[start, stop)`` of one input file (``stop`` None: to the end), coded into ``name``."""

    index: int
    path: str
    format: str
    start: int = 0
    stop: int | None = None

    @property
    def name(self) -> str:
        return part_name(self.index)


def part_name(index: int) -> str:
    """Deterministic output names, so a rerun finds (and skips) what an earlier run finished."""
    return f"part-{index:05d}.parquet"


# --------------------------------------------------------------------------------------------
# Finding and splitting the input


def expand_sources(source: str | Path) -> list[Path]:
    """The shard files of ``source``: one file, a glob pattern, or every shard file in a folder.

    Sorted by name, so partition numbers (and therefore output names) do not depend on the order
    the file system lists them in. Names starting with ``_`` or ``.`` (markers, temporary files)
    are ignored, as Spark and Dask do.
    """
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and _is_shard(p)]
    elif path.exists():
        files = [path]
    elif glob.has_magic(text):
        files = [Path(p) for p in glob.glob(text) if Path(p).is_file() and _is_shard(Path(p))]
    else:
        raise InputError(text, "no such file, folder or glob match")
    if not files:
        raise InputError(text, f"no input shards ({', '.join(SHARD_FORMATS)} files) found")
    for file in files:
        if detect_format(file) not in SHARD_FORMATS:
            raise InputError(str(file), f"the Dask engine reads {', '.join(SHARD_FORMATS)} shards")
    return sorted(files)


def _is_shard(path: Path) -> bool:
    return not path.name.startswith(("_", ".")) and EXTENSIONS.get(path.suffix.lower()) in SHARD_FORMATS


def plan_partitions(files: list[Path], partition_rows: int) -> list[Partition]:
    """Cut the input into partitions of at most ``partition_rows`` rows (whole files for text formats)."""
    partitions: list[Partition] = []
    for file in files:
        fmt = detect_format(file)
        if fmt != "parquet":
            partitions.append(Partition(len(partitions), str(file), fmt))
            continue
        rows = parquet_rows(file)
        for start in range(0, max(rows, 1), partition_rows):
            stop = min(start + partition_rows, rows)
            partitions.append(Partition(len(partitions), str(file), fmt, start, stop))
    return partitions


def parquet_rows(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(str(path)).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file ({exc})") from exc


def fingerprint(files: list[Path]) -> list[dict[str, Any]]:
    """Path, size and modification time: enough to notice that a rerun got different input."""
    return [{"path": str(f.resolve()), "bytes": f.stat().st_size, "mtime_ns": f.stat().st_mtime_ns} for f in files]


# --------------------------------------------------------------------------------------------
# Reading one partition


class _ParquetRange(ParquetReader):
    """A Parquet reader that reads only the row groups holding rows ``[start, stop)``.

    Row numbers (``RawRecord.line``) stay those of the whole file, so ids made from them when the
    data has no id column are the same as when the local engine reads the file from the top.
    """

    def __init__(self, path: Path, start: int, stop: int | None) -> None:
        super().__init__(path)
        self.start, self.stop = start, stop

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        metadata = self._parquet.metadata
        stop = metadata.num_rows if self.stop is None else self.stop
        first = 0
        for group in range(metadata.num_row_groups):
            size = metadata.row_group(group).num_rows
            if first + size > self.start and first < stop:
                yield from self._group(group, first, stop)
            first += size

    def _group(self, group: int, first: int, stop: int) -> Iterator[RawRecord | RecordProblem]:
        try:
            batches = self._parquet.iter_batches(batch_size=self.batch_rows, row_groups=[group])
            row = first
            for batch in batches:
                for values in batch.to_pylist():
                    if self.start <= row < stop:
                        yield self._record(row + 1, values)
                    row += 1
        except self._errors as exc:
            yield RecordProblem(self._file, first + 1, None, f"cannot read row group {group} ({exc})")


def read_partition(partition: Partition, columns: dict[str, str] | None = None) -> Iterator[Incident]:
    """The partition's incidents, mapped exactly as the local engine maps the whole file.

    The column mapping is detected from the file's header, as ``code_file`` does; the first bad
    record raises :class:`InputError`, as it does there.
    """
    path = Path(partition.path)
    if partition.format == "parquet":
        opened: Any = _ParquetRange(path, partition.start, partition.stop)
    else:
        opened = open_reader(path, partition.format)
    with opened:
        mapper = RecordMapper(ColumnMapping.detect(opened.columns, str(path), **(columns or {})))
        yield from mapped_incidents(opened, mapper)


# --------------------------------------------------------------------------------------------
# Writing outputs


def write_table_atomic(table: Any, path: Path) -> None:
    """Write a pyarrow table to ``path`` via a temporary file in the same folder and a rename.

    A worker killed mid-write leaves only a ``.part-….tmp`` file, which no reader globs and the
    next run removes; ``path`` itself is either absent or complete.
    """
    import pyarrow.parquet as pq

    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        pq.write_table(table, name, compression="zstd")
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def write_json_atomic(data: Any, path: Path) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1, ensure_ascii=False)
    os.replace(name, path)


def remove_leftovers(out_dir: Path) -> int:
    """Delete temporary files of interrupted writes; returns how many there were."""
    leftovers = [p for p in out_dir.glob(".part-*.tmp") if p.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def clear_job(out_dir: Path) -> None:
    """Remove a previous job's outputs and markers (``--overwrite``), nothing else in the folder."""
    for path in [*out_dir.glob(PART_GLOB), *out_dir.glob(".part-*.tmp")]:
        path.unlink()
    for name in (JOB_FILE, MANIFEST_FILE, SUCCESS_FILE):
        (out_dir / name).unlink(missing_ok=True)


def start_job(out_dir: Path, job: dict[str, Any], *, overwrite: bool) -> None:
    """Record the job's plan, or check that a rerun is the same job (same input, model and split)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = out_dir / JOB_FILE
    if overwrite:
        clear_job(out_dir)
    elif existing.exists():
        previous = json.loads(existing.read_text(encoding="utf-8"))
        if previous.get("sha256") != job["sha256"]:
            raise CovalueError(
                f"{out_dir} holds the output of a different job (other input, model or partitioning); "
                "pass --overwrite to replace it, or use another folder"
            )
        remove_leftovers(out_dir)
        return
    elif any(out_dir.glob(PART_GLOB)):
        raise CovalueError(f"{out_dir} holds part files of an unknown job; pass --overwrite or use another folder")
    write_json_atomic(job, existing)


def job_hash(job: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()


def finish_job(out_dir: Path, job: dict[str, Any], counts: dict[int, int], partitions: list[Partition]) -> None:
    """Write the manifest (every partition and its incident count) and then the ``_SUCCESS`` marker."""
    manifest = {
        **job,
        "incidents": sum(counts.values()),
        "partitions": [{**asdict(p), "name": p.name, "incidents": counts[p.index]} for p in partitions],
    }
    write_json_atomic(manifest, out_dir / MANIFEST_FILE)
    (out_dir / SUCCESS_FILE).touch()


def is_complete(out_dir: str | Path) -> bool:
    return (Path(out_dir) / SUCCESS_FILE).exists()


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / MANIFEST_FILE
    if not path.exists():
        raise CovalueError(f"{out_dir} has no {MANIFEST_FILE}: the coding job has not finished")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Resharding a big file


def reshard(source: str | Path, out_dir: str | Path, rows_per_shard: int = 50_000) -> list[Path]:
    """Cut one big input file into Parquet shards that the Dask engine can split and spread.

    One pass, flat memory. Values are kept as read (CSV cells stay text), so the mapper sees the
    same values as from the original file; when the file has no id column an ``item_id`` column
    holds the id the local engine would have made (``<file stem>:<line>``), so codings keep their
    ids across the conversion.
    """
    import pyarrow as pa

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with open_reader(source) as reader:
        add_id = ColumnMapping.detect(reader.columns, str(source)).id is None
        columns = [ID_COLUMN, *reader.columns] if add_id else list(reader.columns)
        stem = Path(source).stem
        rows: list[dict[str, Any]] = []
        for record in reader:
            if isinstance(record, RecordProblem):
                raise record.to_error()
            values = {ID_COLUMN: f"{stem}:{record.line}", **record.values} if add_id else record.values
            rows.append(values)
            if len(rows) >= rows_per_shard:
                written.append(_write_shard(pa, rows, columns, out / f"shard-{len(written):05d}.parquet"))
                rows = []
        if rows or not written:
            written.append(_write_shard(pa, rows, columns, out / f"shard-{len(written):05d}.parquet"))
    return written


def _write_shard(pa: Any, rows: list[dict[str, Any]], columns: list[str], path: Path) -> Path:
    """Text columns as strings; other values as pyarrow infers them, JSON text where it cannot."""
    arrays = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        try:
            arrays[name] = pa.array(values) if values else pa.array([], pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
    write_table_atomic(pa.table(arrays), path)
    return path
