"""Report benchmark: time, peak memory and output size of the report as the corpus grows.

The corpus resamples the 260 reference-coded incidents of the bundled example to N incidents
(unique ids, dates spread over two years, every tenth customer with several incidents so the
loss-spiral section has work to do). Each size runs in a fresh child process, so its peak
resident memory is its own. The report should stay small (aggregates and a fixed number of
examples) and its time should grow far slower than the corpus.

    python benchmarks/bench_report.py            # 2,000, 20,000 and 200,000 incidents
    python benchmarks/bench_report.py --short    # CI: 1,000 incidents
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from covalue.analysis.frame import frame_from_files
from covalue.framework import load_codebook
from covalue.framework.recommendations import bundled_recommendations
from covalue.model.incident import Coder
from covalue.reporting.build import ReportInputs, build_report, write_report
from importlib import resources

n, out = int(sys.argv[1]), Path(sys.argv[2])
example = resources.files("covalue.data.example")
vcd = load_codebook("vcd")
base = frame_from_files(example / "incidents.csv", example / "labels_gold.csv", vcd)
rng = np.random.default_rng(0)
frame = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
frame["item_id"] = [f"r{k}" for k in range(n)]
start = pd.Timestamp("2024-01-01", tz="UTC")
frame["occurred_at"] = start + pd.to_timedelta(rng.integers(0, 730 * 24 * 3600, n), unit="s")
customers = rng.integers(0, max(1, n // 3), n)
frame["customer_id"] = [f"c{c}" if c % 10 == 0 else f"u{k}" for k, c in enumerate(customers)]
frame["thread_id"] = None
frame["evidence"] = [{} for _ in range(n)]
started = time.perf_counter()
inputs = ReportInputs(frame, vcd, "bench", Coder("reference"), recommendations=bundled_recommendations(vcd))
built = build_report(inputs)
built_s = time.perf_counter() - started
files = write_report(built, out)
total_s = time.perf_counter() - started
print(json.dumps({
    "incidents": n, "build_s": built_s, "total_s": total_s,
    "html_kib": files.html.stat().st_size / 1024, "xlsx_kib": files.workbook.stat().st_size / 1024,
    "figures": len(built.figures), "tables": len(built.tables),
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(n), folder], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"report benchmark failed for {n} incidents:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="one small corpus (CI)")
    args = parser.parse_args()
    sizes = [1_000] if args.short else [2_000, 20_000, 200_000]
    print("report: incidents | build s | build+write s | report.html KiB | tables.xlsx KiB | figures | peak MiB")
    for n in sizes:
        r = run(n)
        print(
            f"report: {r['incidents']:>9,} | {r['build_s']:7.1f} | {r['total_s']:13.1f} | {r['html_kib']:15,.0f} | "
            f"{r['xlsx_kib']:15,.0f} | {r['figures']:7} | {r['peak_mib']:8,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
