"""`covalue code`, `train`, `suggest` end to end: files, projects, the bundled model, determinism."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from covalue.cli.main import app
from covalue.coding.training import load_model
from covalue.engines.local import code_file
from covalue.errors import InputError
from covalue.model.labels import GUIDE_FIELDS
from covalue.store import Store

runner = CliRunner()
EXAMPLE = Path(str(resources.files("covalue.data.example")))


def _subset(tmp_path: Path, n: int = 40) -> Path:
    with (EXAMPLE / "incidents.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
        header = reader.fieldnames
    path = tmp_path / "incidents.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_code_a_file_with_the_bundled_model(tmp_path: Path) -> None:
    source = _subset(tmp_path)
    out = tmp_path / "codings.csv"
    result = runner.invoke(
        app, ["code", str(source), "--out", str(out), "--text-column", "text", "--id-column", "item_id"]
    )
    assert result.exit_code == 0, result.output
    assert "Coded 40 incidents" in result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["item_id", *GUIDE_FIELDS]
    assert len(rows) == 40 and all(row["valence"] for row in rows)
    with source.open(encoding="utf-8") as handle:
        texts = {row["item_id"]: row["text"] for row in csv.DictReader(handle)}
    records = [json.loads(line) for line in (tmp_path / "codings.evidence.jsonl").read_text().splitlines()]
    assert [r["item_id"] for r in records] == [row["item_id"] for row in rows]
    for record in records:
        for decision in record["decisions"]:
            assert 0.0 <= decision["confidence"] <= 1.0
            for (start, end), quoted in zip(decision["evidence"], decision["evidence_text"], strict=True):
                assert texts[record["item_id"]][start:end] == quoted and quoted.strip()
    assert not list(tmp_path.glob("*.part"))

    again = tmp_path / "again.csv"
    runner.invoke(app, ["code", str(source), "--out", str(again)])
    assert again.read_bytes() == out.read_bytes(), "same input and model must give the same output"


def test_code_file_errors_leave_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,text\na,fine text\nb,\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match=r"bad\.csv:3"):
        code_file(load_model("fast"), bad, out)
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    result = runner.invoke(app, ["code", str(bad), "--out", str(out)])
    assert result.exit_code == 1 and "empty text" in result.output


def test_code_train_suggest_on_a_project(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    assert runner.invoke(app, ["import", str(EXAMPLE / "incidents.csv"), "--db", db]).exit_code == 0
    assert runner.invoke(app, ["import", str(EXAMPLE / "labels_gold.csv"), "--labels", "--db", db]).exit_code == 0

    coded = runner.invoke(app, ["code", "--db", db, "--model", "keywords", "--limit", "30"])
    assert coded.exit_code == 0, coded.output
    assert "Coded 30 incidents" in coded.output
    resumed = runner.invoke(app, ["code", "--db", db, "--model", "keywords", "--limit", "1000"])
    assert "Coded 470 incidents" in resumed.output  # only those not coded yet
    store = Store.open(db)
    project = store.project()
    summary = store.summary(project)
    assert summary["coders"]["covalue-keywords"]["incidents"] == 500
    assert summary["coders"]["covalue-keywords"]["kind"] == "machine"
    store.close()

    model = tmp_path / "model"
    trained = runner.invoke(app, ["train", "--db", db, "--out", str(model), "--encoder", "none"])
    assert trained.exit_code == 0, trained.output
    assert "on 260 incidents coded by gold" in trained.output
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["version"].startswith("260-") and manifest["codebook"] == "vcd@1.0.0"

    suggested = runner.invoke(app, ["suggest", "--db", db, "--model", str(model), "-k", "5", "--json"])
    assert suggested.exit_code == 0, suggested.output
    picks = json.loads(suggested.output)
    with (EXAMPLE / "labels_gold.csv").open(encoding="utf-8") as handle:
        labelled = {row["item_id"] for row in csv.DictReader(handle)}
    assert len(picks) == 5 and not {p["incident_id"] for p in picks} & labelled

    evaluated = runner.invoke(
        app, ["evaluate", "--db", db, "--gold-coder", "gold", "--pred-coder", "covalue-keywords", "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["n"] == 260
