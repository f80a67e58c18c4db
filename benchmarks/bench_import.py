"""Import benchmark: rows/s and peak memory for importing many incidents.

Builds an input file by resampling the real incident texts of the bundled example (500
public complaints, tweets, threads, reviews and patient stories), with unique ids and real
metadata columns, then imports it with ``covalue import`` in a child process so that the
child's peak resident memory is the import's alone.

    python benchmarks/bench_import.py                 # 1,000,000 rows, CSV, SQLite
    python benchmarks/bench_import.py --short         # 20,000 and 100,000 rows (CI)
    python benchmarks/bench_import.py --format parquet --rows 200000
    python benchmarks/bench_import.py --db postgresql://postgres@127.0.0.1/test_bench

Memory must not grow with the number of rows: the short mode runs two sizes and prints both.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["item_id", "source", "relationship_type", "channel", "date", "customer_id", "text", "meta"]


def real_rows() -> list[dict[str, str]]:
    with resources.files("covalue.data.example").joinpath("incidents.csv").open(encoding="utf-8") as handle:
        return [{c: row.get(c, "") for c in COLUMNS} for row in csv.DictReader(handle)]


def resampled(rows: list[dict[str, str]], n: int, seed: int = 7):
    rng = random.Random(seed)
    for k in range(n):
        row = dict(rng.choice(rows))
        row["item_id"] = f"{row['item_id']}#{k}"
        yield row


def build_input(path: Path, fmt: str, n: int) -> None:
    rows = real_rows()
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(resampled(rows, n))
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for row in resampled(rows, n):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = None
        batch: list[dict[str, str]] = []
        for row in resampled(rows, n):
            batch.append(row)
            if len(batch) == 50_000:
                writer = _write_batch(writer, path, batch)
                batch = []
        writer = _write_batch(writer, path, batch) if batch else writer
        if writer is not None:
            writer.close()


def _write_batch(writer, path: Path, batch: list[dict[str, str]]):
    table = pa.Table.from_pylist(batch)
    writer = writer or pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
    return writer


#: Runs the CLI in a child and reports that child's own peak RSS, so sizes are measured apart.
_CHILD = """
import resource, sys
from covalue.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    code = exit.code or 0
print(f"PEAK_RSS_KIB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
sys.exit(code)
"""


def run_cli(*args: str) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and output of one ``covalue`` command in a fresh process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"covalue {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    peak = int(result.stdout.rsplit("PEAK_RSS_KIB=", 1)[1].strip())
    return seconds, peak / 1024, result.stdout


def measure(n: int, fmt: str, db_url: str | None, workdir: Path) -> dict[str, float]:
    path = workdir / f"incidents_{n}.{fmt}"
    started = time.perf_counter()
    build_input(path, fmt, n)
    build_seconds = time.perf_counter() - started
    db = db_url or str(workdir / f"bench_{n}.db")
    run_cli("init", "--db", db, "--project", "bench")
    seconds, peak_mib, _ = run_cli("import", str(path), "--db", db)
    return {
        "rows": n,
        "file_mib": path.stat().st_size / 2**20,
        "build_s": build_seconds,
        "import_s": seconds,
        "rows_per_s": n / seconds,
        "peak_rss_mib": peak_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet"], default="csv")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--short", action="store_true", help="CI mode: 20,000 and 100,000 rows")
    args = parser.parse_args()
    sizes = [20_000, 100_000] if args.short else [args.rows]
    print(f"covalue import benchmark: format={args.format}, db={args.db or 'sqlite (temp file)'}")
    print(f"{'rows':>10} {'file MiB':>9} {'import s':>9} {'rows/s':>9} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory(prefix="covalue-bench-") as tmp:
        for n in sizes:
            if args.db and len(sizes) > 1:
                sys.exit("--db with --short would import twice into one database; give --rows instead")
            figures = measure(n, args.format, args.db, Path(tmp))
            print(
                f"{figures['rows']:>10,} {figures['file_mib']:>9.1f} {figures['import_s']:>9.1f} "
                f"{figures['rows_per_s']:>9,.0f} {figures['peak_rss_mib']:>13.0f}"
            )


if __name__ == "__main__":
    main()
