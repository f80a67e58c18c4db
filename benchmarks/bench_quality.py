"""Quality benchmark: 5-fold cross-validation of the coders on the 260 reference incidents.

Data: the reference (dev) incidents and their adjudicated labels, as bundled in the example
(`src/covalue/data/example/`), plus the team-labelled training data (`training-data/`), which is
always in the training folds. Coders compared in the same folds:

* ``keywords``   — rules from the codebook's indicators (no training);
* ``similarity`` — zero-shot cosine between texts and code descriptions (static MiniLM);
* ``tfidf-lr``   — TF-IDF + logistic regression per field, threshold 0.5 (the classic baseline);
* ``default``    — covalue's supervised coder as shipped (TF-IDF + static MiniLM + source,
  calibrated heads, tuned thresholds, codebook-consistent decoding);
* ``accurate``   — the same with the full MiniLM encoder (only when onnxruntime is installed).

Then the learn-your-own-codes check: the airline tweets' crowd ``negativereason`` labels as a
user's own codebook, trained with 5, 20 and 100 examples per code and scored on held-out tweets.

    python benchmarks/bench_quality.py            # everything (about 20 minutes on 2 cores)
    python benchmarks/bench_quality.py --short    # CI: 2 folds, fewer coders (about 2 minutes)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path

from sklearn.model_selection import KFold

from covalue.coding.features import FeatureSpace
from covalue.coding.metrics import evaluate
from covalue.coding.supervised import SupervisedCoder
from covalue.coding.zeroshot import KeywordCoder, SimilarityCoder
from covalue.framework import load_codebook, parse_codebook
from covalue.model.labels import LabelRow, parse_label_value

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SHORT_NAMES = ["val.k", "rsn.F1", "agg.F1", "neg.F1", "pos.F1", "pha.k", "ini.k", "wb.k", "cop.F1", "res.F1"]
HEADLINE = [
    ("valence", "kappa"),
    ("reasons", "micro_f1"),
    ("reasons", "aggregate_micro_f1"),
    ("negative_factors", "micro_f1"),
    ("positive_factors", "micro_f1"),
    ("phase", "kappa"),
    ("initiator", "kappa"),
    ("wellbeing_decline", "kappa"),
    ("coping", "micro_f1"),
    ("resources_lost", "micro_f1"),
]


def read_csv(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def label_values(codebook, row: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {d: parse_label_value(codebook, d, row.get(d)) for d in codebook.dimension_ids}


def reference_data(codebook):
    example = resources.files("covalue.data.example")
    with example.joinpath("labels_gold.csv").open(encoding="utf-8") as handle:
        gold = {r["item_id"]: r for r in csv.DictReader(handle)}
    with example.joinpath("incidents.csv").open(encoding="utf-8") as handle:
        incidents = [r for r in csv.DictReader(handle) if r["item_id"] in gold]
    incidents.sort(key=lambda r: r["item_id"])
    return (
        [r["item_id"] for r in incidents],
        [r["text"] for r in incidents],
        [r["source"] for r in incidents],
        [label_values(codebook, gold[r["item_id"]]) for r in incidents],
    )


def team_data(codebook):
    folder = REPO / "training-data"
    labels = {r["item_id"]: r for r in read_csv(folder / "labels_team.csv")}
    incidents = [r for r in read_csv(folder / "incidents.csv") if r["item_id"] in labels]
    return (
        [r["text"] for r in incidents],
        [r["source"] for r in incidents],
        [label_values(codebook, labels[r["item_id"]]) for r in incidents],
    )


def make_coders(codebook, short: bool, accurate: bool):
    coders = {
        "keywords": lambda: KeywordCoder(codebook),
        "tfidf-lr": lambda: SupervisedCoder(
            codebook, features=FeatureSpace(tfidf=True, encoder=None, source=False), calibrate=False
        ),
        "default": lambda: SupervisedCoder(codebook),
    }
    if not short:
        coders["similarity"] = lambda: SimilarityCoder(codebook)
    if accurate:
        coders["accurate"] = lambda: SupervisedCoder(codebook, features=FeatureSpace(encoder="minilm-onnx"))
    return coders


def cross_validate(codebook, folds: int, short: bool, accurate: bool) -> dict[str, dict]:
    ids, texts, sources, labels = reference_data(codebook)
    extra_texts, extra_sources, extra_labels = team_data(codebook)
    gold = {i: LabelRow(i, lab) for i, lab in zip(ids, labels, strict=True)}
    results = {}
    for name, factory in make_coders(codebook, short, accurate).items():
        started = time.perf_counter()
        predicted: dict[str, LabelRow] = {}
        for train, test in KFold(folds, shuffle=True, random_state=0).split(texts):
            coder = factory()
            if hasattr(coder, "fit"):
                coder.fit(
                    [texts[i] for i in train] + extra_texts,
                    [labels[i] for i in train] + extra_labels,
                    [sources[i] for i in train] + extra_sources,
                )
            out = coder.predict([texts[i] for i in test], [sources[i] for i in test], [ids[i] for i in test])
            predicted.update({c.incident_id: c.to_label_row() for c in out})
        scores = evaluate(gold, predicted, codebook)
        results[name] = {f"{f}.{m}": scores.fields[f].summary[m] for f, m in HEADLINE}
        results[name]["seconds"] = time.perf_counter() - started
        print(f"  {name:<10} " + " ".join(f"{results[name][f'{f}.{m}']:>6.3f}" for f, m in HEADLINE), flush=True)
    return results


NEGATIVE_REASON_CODEBOOK = """\
id: airline-negativereason
version: 1.0.0
name: Airline complaint reasons (crowd labels)
description: The reason crowd workers gave for a negative tweet to a US airline; a user's own codebook.
dimensions:
  - id: reason
    name: Reason
    description: Why the customer complains.
    cardinality: single
    codes:
{codes}"""


def own_codes(per_code: list[int], seed: int = 0) -> dict[int, dict[str, float]]:
    """Train on k examples per crowd reason, score on a fixed held-out set of tweets."""
    path = SHARED / "raw" / "twitter_airline_sentiment" / "tweets.csv"
    if not path.exists():
        print(f"  (skipped: {path} not found)")
        return {}
    rows = [r for r in read_csv(path) if r["negativereason"] and r["negativereason"] != "Can't Tell"]
    seen, unique = set(), []
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            unique.append(row)
    reasons = sorted({r["negativereason"] for r in unique})
    slug = {r: r.lower().replace("'", "").replace(" ", "_") for r in reasons}
    codes = "\n".join(
        f"      - id: {slug[r]}\n        name: {r}\n        definition: Complaint about {r.lower()}." for r in reasons
    )
    codebook = parse_codebook(NEGATIVE_REASON_CODEBOOK.format(codes=codes), "airline-negativereason.yaml")
    rng = random.Random(seed)
    rng.shuffle(unique)
    by_reason: dict[str, list[dict]] = defaultdict(list)
    for row in unique:
        by_reason[row["negativereason"]].append(row)
    test = [row for reason in reasons for row in by_reason[reason][100:160]]
    results = {}
    for k in per_code:
        train = [row for reason in reasons for row in by_reason[reason][:k]]
        coder = SupervisedCoder(codebook, features=FeatureSpace(source=False), calibrate=False)
        coder.fit([r["text"] for r in train], [{"reason": (slug[r["negativereason"]],)} for r in train])
        out = coder.predict([r["text"] for r in test], evidence=False)
        truth = {str(i): LabelRow(str(i), {"reason": (slug[r["negativereason"]],)}) for i, r in enumerate(test)}
        guess = {str(i): LabelRow(str(i), {"reason": o.codes("reason")}) for i, o in enumerate(out)}
        summary = evaluate(truth, guess, codebook).fields["reason"].summary
        results[k] = {"accuracy": summary["accuracy"], "macro_f1": summary["macro_f1"], "train": len(train)}
        print(
            f"  {k:>4} per code ({len(train):>4} tweets): accuracy {summary['accuracy']:.3f}, "
            f"macro-F1 {summary['macro_f1']:.3f} on {len(test)} held-out tweets",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="CI mode: 2 folds, fewer coders")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    codebook = load_codebook("vcd")
    try:
        import onnxruntime  # noqa: F401

        accurate = not args.short
    except ImportError:
        accurate = False
    folds = 2 if args.short else 5
    print(f"covalue quality benchmark: {folds}-fold CV on the 260 reference incidents (+ team labels in training)")
    print("  coder      " + " ".join(f"{name:>6}" for name in SHORT_NAMES))
    cv = cross_validate(codebook, folds, args.short, accurate)
    print("learn-your-own-codes: airline negativereason (crowd labels), TF-IDF + static MiniLM heads")
    learning = own_codes([5, 20] if args.short else [5, 20, 100])
    if args.json:
        args.json.write_text(json.dumps({"cross_validation": cv, "own_codes": learning}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
