"""Train the models bundled with covalue (``fast`` and, when onnxruntime is installed, ``accurate``).

Training data, all in this repository: the 260 reference incidents of the bundled example with
their adjudicated labels, and the 1,310 team-labelled incidents in ``training-data/`` (see its
README for how they were labelled). Deterministic: the same data and seed give the same files.

    python scripts/train_default.py                 # fast model
    python scripts/train_default.py --accurate      # also the accurate model (needs covalue[accurate])
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from importlib import resources
from pathlib import Path

from covalue.coding.features import FeatureSpace
from covalue.coding.supervised import SupervisedCoder
from covalue.framework import load_codebook
from covalue.model.labels import parse_label_value

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "src" / "covalue" / "coding" / "resources" / "models"
VERSION = "1.0.0"


def read(handle) -> list[dict[str, str]]:
    return list(csv.DictReader(handle))


def training_rows(codebook) -> tuple[list[str], list[str], list[dict[str, tuple[str, ...]]], list[str]]:
    example = resources.files("covalue.data.example")
    with example.joinpath("labels_gold.csv").open(encoding="utf-8") as handle:
        labels = {r["item_id"]: r for r in read(handle)}
    with example.joinpath("incidents.csv").open(encoding="utf-8") as handle:
        incidents = [r for r in read(handle) if r["item_id"] in labels]
    with (REPO / "training-data" / "labels_team.csv").open(encoding="utf-8") as handle:
        team = {r["item_id"]: r for r in read(handle)}
    with (REPO / "training-data" / "incidents.csv").open(encoding="utf-8") as handle:
        incidents += [r for r in read(handle) if r["item_id"] in team]
    labels.update(team)
    incidents.sort(key=lambda r: r["item_id"])
    values = [
        {d: parse_label_value(codebook, d, labels[r["item_id"]].get(d)) for d in codebook.dimension_ids}
        for r in incidents
    ]
    return [r["text"] for r in incidents], [r["source"] for r in incidents], values, [r["item_id"] for r in incidents]


def train(name: str, encoder: str) -> None:
    codebook = load_codebook("vcd")
    texts, sources, labels, ids = training_rows(codebook)
    started = time.perf_counter()
    coder = SupervisedCoder(
        codebook, features=FeatureSpace(encoder=encoder), name=f"covalue-{name}", version=VERSION
    ).fit(texts, labels, sources, ids=ids)
    folder = coder.save(MODELS / f"vcd-{name}")
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(
        f"{name}: trained on {len(texts)} incidents in {time.perf_counter() - started:.0f} s "
        f"-> {folder} ({size:.1f} MiB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accurate", action="store_true", help="also train the accurate (MiniLM ONNX) model")
    parser.add_argument("--only-accurate", action="store_true")
    args = parser.parse_args()
    MODELS.mkdir(parents=True, exist_ok=True)
    (MODELS / "__init__.py").touch()
    if not args.only_accurate:
        train("fast", "static-minilm")
    if args.accurate or args.only_accurate:
        train("accurate", "minilm-onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
