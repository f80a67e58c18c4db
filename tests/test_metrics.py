"""Evaluation maths against cases worked by hand and against scikit-learn."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score
from typer.testing import CliRunner

from covalue.cli.main import app
from covalue.coding.metrics import evaluate
from covalue.framework import load_codebook
from covalue.model.labels import GUIDE_FIELDS, LabelRow

VCD = load_codebook("vcd")


def rows(values: dict[str, list]) -> dict[str, LabelRow]:
    n = len(next(iter(values.values())))
    return {
        str(k): LabelRow(str(k), {f: tuple(v[k]) if isinstance(v[k], tuple) else (v[k],) for f, v in values.items()})
        for k in range(n)
    }


def test_single_valued_by_hand() -> None:
    # 10 incidents: 8 agree. Reference marginals co_destruction 6, mixed 4; predicted 6 and 4.
    truth = ["co_destruction"] * 6 + ["mixed"] * 4
    guess = ["co_destruction"] * 5 + ["mixed"] + ["co_destruction"] + ["mixed"] * 3
    result = evaluate(rows({"valence": truth}), rows({"valence": guess}), VCD, ["valence"])
    summary = result.fields["valence"].summary
    # Po = 0.8; Pe = 0.6*0.6 + 0.4*0.4 = 0.52; kappa = (0.8 - 0.52) / 0.48 = 0.58333...
    assert summary["accuracy"] == pytest.approx(0.8)
    assert summary["kappa"] == pytest.approx(0.28 / 0.48)
    # F1(co_destruction) = 2*5/(2*5+1+1) = 0.8333; F1(mixed) = 2*3/(6+1+1) = 0.75
    assert summary["macro_f1"] == pytest.approx((10 / 12 + 0.75) / 2)
    assert result.fields["valence"].confusion == {
        "co_destruction": {"co_destruction": 5, "mixed": 1},
        "mixed": {"co_destruction": 1, "mixed": 3},
    }
    assert summary["kappa"] == pytest.approx(cohen_kappa_score(truth, guess))


def test_multi_valued_and_aggregate_by_hand() -> None:
    truth = [("R4.2", "R4.4"), ("R9.2",), (), ("R1.1",)]
    guess = [("R4.2",), ("R9.1",), (), ("R1.1", "R4.3")]
    result = evaluate(rows({"reasons": truth}), rows({"reasons": guess}), VCD, ["reasons"])
    summary = result.fields["reasons"].summary
    # themes: tp = R4.2, R1.1 = 2; fp = R9.1, R4.3 = 2; fn = R4.4, R9.2 = 2 -> micro-F1 = 4/8
    assert summary["micro_f1"] == pytest.approx(0.5)
    # per theme F1: R1.1 1, R4.2 1, R4.3 0, R4.4 0, R9.1 0, R9.2 0 -> macro 2/6
    assert summary["macro_f1"] == pytest.approx(2 / 6)
    # aggregates: truth {R4},{R9},{},{R1}; guess {R4},{R9},{},{R1,R4}: tp 3, fp 1, fn 0 -> 6/7
    assert summary["aggregate_micro_f1"] == pytest.approx(6 / 7)
    # aggregate F1: R1 1, R4 2*1/(2+1) = 2/3, R9 1 -> macro (1 + 2/3 + 1)/3
    assert summary["aggregate_macro_f1"] == pytest.approx((2 + 2 / 3) / 3)
    codes = result.fields["reasons"].codes
    assert codes["R4.2"].to_dict() == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert codes["R4.4"].to_dict() == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert (codes["R9.1"].tp, codes["R9.1"].fp, codes["R9.1"].support) == (0, 1, 0)


def test_matches_sklearn_on_perturbed_real_labels(shared_data: Path) -> None:
    with (shared_data / "dev_gold.csv").open(encoding="utf-8") as handle:
        gold = list(csv.DictReader(handle))
    rng = random.Random(4)
    truth, guess = {}, {}
    for row in gold:
        values = {f: tuple(v for v in row[f].split(";") if v) for f in GUIDE_FIELDS}
        noisy = dict(values)
        if rng.random() < 0.3:
            noisy["valence"] = (rng.choice(VCD.code_ids("valence")),)
        if rng.random() < 0.3:
            noisy["coping"] = tuple(sorted(set(values["coping"]) ^ {rng.choice(VCD.code_ids("coping"))}))
        truth[row["item_id"]] = LabelRow(row["item_id"], values)
        guess[row["item_id"]] = LabelRow(row["item_id"], noisy)
    result = evaluate(truth, guess, VCD)
    assert result.n == 260
    ids = list(truth)
    a = [truth[i].values["valence"][0] for i in ids]
    b = [guess[i].values["valence"][0] for i in ids]
    assert result.fields["valence"].summary["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert result.fields["valence"].summary["macro_f1"] == pytest.approx(f1_score(a, b, average="macro"), abs=1e-12)
    codes = sorted({c for i in ids for c in truth[i].values["coping"] + guess[i].values["coping"]})
    y = np.array([[c in truth[i].values["coping"] for c in codes] for i in ids])
    p = np.array([[c in guess[i].values["coping"] for c in codes] for i in ids])
    assert result.fields["coping"].summary["micro_f1"] == pytest.approx(f1_score(y, p, average="micro"), abs=1e-12)
    assert result.fields["coping"].summary["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert result.fields["phase"].summary["kappa"] == 1.0


def test_evaluate_cli_json_shape(tmp_path: Path, shared_data: Path) -> None:
    gold = shared_data / "dev_gold.csv"
    pred = tmp_path / "pred.csv"
    with gold.open(encoding="utf-8") as source, pred.open("w", encoding="utf-8", newline="") as sink:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(sink, reader.fieldnames)
        writer.writeheader()
        for k, row in enumerate(reader):
            if k % 4 == 0:
                row["valence"] = "mixed"
            writer.writerow(row)
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["n"] == 260 and set(data["fields"]) == set(GUIDE_FIELDS)
    assert set(data["fields"]["valence"]) == {"accuracy", "kappa", "macro_f1"}
    assert set(data["fields"]["reasons"]) == {"micro_f1", "macro_f1", "aggregate_micro_f1", "aggregate_macro_f1"}
    assert set(data["fields"]["coping"]) == {"micro_f1", "macro_f1"}
    assert data["fields"]["reasons"]["micro_f1"] == 1.0 and data["fields"]["valence"]["accuracy"] < 1.0
    table = CliRunner().invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--details"])
    assert table.exit_code == 0 and "confusion" in table.output
