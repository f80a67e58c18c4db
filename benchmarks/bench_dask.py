"""Dask engine benchmark: incidents/s on 1 and 2 workers and peak memory per worker, at two input sizes.

Input: real texts resampled with replacement into Parquet shards in a temporary folder, as a
corpus arrives at scale (unique ids, source, date): airline tweets (twitter_airline_sentiment)
and customer-support tweets (customer_support_on_twitter), 45 % each, and CFPB complaint
narratives (10 %; long texts, about five times slower to code). Each run starts a fresh
LocalCluster (processes, one thread each), so a worker's peak RSS is that of its own run;
memory must stay flat as the input grows. Besides wall-clock incidents/s, the workers' CPU time
gives incidents per CPU-second: on a machine shared with other jobs the wall clock measures the
neighbours too, while per-CPU-second throughput that stays level from 1 to 2 workers shows the
engine adds no overhead as it scales out. The local engine (one process, ``code_file`` on the
first shard) is measured on the small input for comparison.

    python benchmarks/bench_dask.py            # 100,000 and 1,000,000 incidents (~25-45 min on 2 cores)
    python benchmarks/bench_dask.py --short    # CI: 1,500 and 4,000 incidents (< 1 min)
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "raw"
MIX = (("airline", 0.45), ("support", 0.45), ("cfpb", 0.10))
SOURCES = {
    "airline": (SHARED / "twitter_airline_sentiment" / "tweets.csv", "text", "tweet_created"),
    "support": (SHARED / "customer_support_on_twitter" / "twcs_first5000.csv", "text", "created_at"),
    "cfpb": (SHARED / "cfpb_consumer_complaints" / "complaints_sample.csv", "Consumer complaint narrative",
             "Date received"),
}  # fmt: skip


def real_rows(kind: str) -> list[tuple[str, str]]:
    """(text, date) pairs of one source; the bundled example's rows of that source if shared data is absent."""
    csv.field_size_limit(10**8)
    path, text, date = SOURCES[kind]
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            return [(row[text], row[date]) for row in csv.DictReader(handle) if row[text].strip()]
    source = {"support": "airline"}.get(kind, kind)
    with resources.files("covalue.data.example").joinpath("incidents.csv").open(encoding="utf-8") as handle:
        return [(row["text"], row["date"]) for row in csv.DictReader(handle) if row["source"] == source]


def write_corpus(n: int, folder: Path, shard_rows: int, seed: int = 0) -> list[Path]:
    """``n`` resampled incidents as Parquet shards of ``shard_rows`` rows (row groups of 16,384)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pools = {kind: real_rows(kind) for kind, _ in MIX}
    tables = {
        kind: pa.table({"text": [t for t, _ in rows], "date": [d for _, d in rows], "source": [kind] * len(rows)})
        for kind, rows in pools.items()
    }
    rng = np.random.default_rng(seed)
    paths = []
    for shard, start in enumerate(range(0, n, shard_rows)):
        size = min(shard_rows, n - start)
        kinds = rng.choice(len(MIX), size=size, p=[share for _, share in MIX])
        parts = []
        for k, (kind, _) in enumerate(MIX):
            count = int((kinds == k).sum())
            picks = rng.integers(0, tables[kind].num_rows, size=count)
            parts.append(tables[kind].take(pa.array(picks)))
        table = pa.concat_tables(parts).take(pa.array(rng.permutation(size)))
        ids = pa.array([f"bench-{start + k}" for k in range(size)])
        table = table.add_column(0, "item_id", ids).append_column("relationship_type", pa.array(["B2C"] * size))
        path = folder / f"shard-{shard:04d}.parquet"
        pq.write_table(table, path, row_group_size=16_384)
        paths.append(path)
    return paths


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this (worker) process: with other jobs on the machine, wall time alone misleads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_dask(corpus: Path, out: Path, workers: int, partition_rows: int) -> dict:
    """Code the corpus on a fresh LocalCluster; rate (cluster start not counted) and each worker's peak RSS."""
    from covalue.engines.dask_engine import code_dask, dask_client

    with dask_client(n_workers=workers) as client:
        client.run(_warm)
        cpu_before = client.run(_cpu_seconds)
        started = time.perf_counter()
        report = code_dask("fast", corpus, out, client=client, partition_rows=partition_rows)
        seconds = time.perf_counter() - started
        cpu = sum(after - cpu_before[worker] for worker, after in client.run(_cpu_seconds).items())
        peaks = sorted(client.run(_peak_rss_mib).values())
    return {"incidents": report.total_incidents, "seconds": seconds, "per_s": report.total_incidents / seconds,
            "cpu_seconds": cpu, "per_cpu_s": report.total_incidents / cpu, "peak_mib": peaks,
            "partitions": report.partitions}  # fmt: skip


def _warm() -> None:
    """Load the model before the clock starts, as a long-running cluster would have it loaded."""
    from covalue.engines.dask_engine import worker_coder

    worker_coder("fast")


def run_local(shard: Path, out: Path) -> dict:
    from covalue.coding.training import load_model
    from covalue.engines.local import code_file

    coder = load_model("fast")
    coder.predict(["warm up"])
    cpu = _cpu_seconds()
    report = code_file(coder, shard, out)
    cpu = _cpu_seconds() - cpu
    return {"incidents": report.incidents, "per_s": report.per_second, "per_cpu_s": report.incidents / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="CI mode: 1,500 and 4,000 incidents")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    from covalue.engines.dask_engine import DEFAULT_PARTITION_ROWS

    sizes = (1_500, 4_000) if args.short else (100_000, 1_000_000)
    shard_rows = 2_500 if args.short else 100_000
    partition_rows = 1_024 if args.short else DEFAULT_PARTITION_ROWS
    print("covalue Dask benchmark (fast model, evidence spans on; 2 cores); LocalCluster, 1 thread per worker")
    print(
        f"{'n':>9} {'workers':>7} {'parts':>5} {'seconds':>8} {'per s':>7} {'per CPU-s':>9} "
        f"{'peak MiB per worker':>20}",
        flush=True,
    )
    figures = []
    with tempfile.TemporaryDirectory(prefix="covalue-dask-bench-") as tmp:
        for n in sizes:
            corpus = Path(tmp) / f"in-{n}"
            shards = write_corpus(n, corpus, shard_rows)
            for workers in (1, 2):
                result = run_dask(corpus, Path(tmp) / f"out-{n}-{workers}", workers, partition_rows)
                figures.append({"n": n, "workers": workers, **result})
                peaks = ", ".join(f"{p:.0f}" for p in result["peak_mib"])
                print(
                    f"{n:>9,} {workers:>7} {result['partitions']:>5} {result['seconds']:>8.1f} "
                    f"{result['per_s']:>7,.0f} {result['per_cpu_s']:>9,.0f} {peaks:>20}",
                    flush=True,
                )
            if n == sizes[0]:
                local = run_local(shards[0], Path(tmp) / "local.csv")
                figures.append({"n": local["incidents"], "workers": "local", **local})
                print(
                    f"{local['incidents']:>9,} {'local':>7} {'':>5} {'':>8} {local['per_s']:>7,.0f} "
                    f"{local['per_cpu_s']:>9,.0f}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())
