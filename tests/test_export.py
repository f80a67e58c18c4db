"""Exports read back with csv, pyarrow and json agree with the store; the guide layout round-trips."""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from covalue.errors import CovalueError
from covalue.framework import Codebook, load_codebook
from covalue.ingest.importer import import_incidents
from covalue.ingest.labels import import_labels
from covalue.interchange.tables import export_codings, export_incidents, write_rows
from covalue.model import Coder, Coding, Span
from covalue.store import ProjectInfo, Store

INCIDENT_HEADER = [
    "item_id", "text", "source", "relationship_type", "channel", "date", "customer_id", "thread_id",
    "thread_position", "metadata",
]  # fmt: skip
CODING_HEADER = [
    "item_id", "coder", "codebook", "dimension", "code", "start", "end", "confidence", "evidence", "round",
    "memo",
]  # fmt: skip
FORMATS = ["csv", "parquet", "jsonl"]
LABELLED = 30  # gold rows loaded for the read-only tests (reading codings back is slow in bulk)
GOLD_CODINGS = 319  # codings in the first 30 rows of dev_gold.csv
MEMO = 'said "no", twice;\nthen hung up'  # quotes, comma, separator and newline: CSV must quote it


@functools.cache
def vcd() -> Codebook:
    return load_codebook("vcd")


def read_back(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The exported rows as the format's own reader gives them."""
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            assert reader.fieldnames is not None
            rows.insert(0, {"__header__": list(reader.fieldnames)})
            return rows
    if fmt == "parquet":
        table = pq.read_table(path)
        return [{"__header__": table.schema.names}, *table.to_pylist()]
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return [{"__header__": list(rows[0])}, *rows]


def load(store: Store, shared_data: Path, *, labelled: int | None = None, scratch: Path | None = None) -> ProjectInfo:
    """The dev set with the gold labels of its first ``labelled`` incidents (default all); with a
    ``scratch`` folder (for the subset file) also a machine coder's codings with every column set."""
    project = store.create_project("dev")
    import_incidents(store, project, shared_data / "dev_items.csv")
    labels = shared_data / "dev_gold.csv"
    if labelled is not None and scratch is not None:
        lines = labels.read_text(encoding="utf-8").splitlines(keepends=True)
        labels = scratch / "gold_subset.csv"
        labels.write_text("".join(lines[: labelled + 1]), encoding="utf-8")
    import_labels(store, project, labels, vcd(), Coder("gold"))
    if scratch is not None:
        codebook_pk = store.codebooks(project)[0][0]
        codings = [
            Coding("cfpb-3416143", "reasons", "R3.2", "model", span=Span(4, 40), confidence=0.8, memo=MEMO),
            Coding("cfpb-3416143", "valence", "co_destruction", "model", confidence=0.95, evidence=(Span(0, 9),)),
            Coding(
                "nhs-553",
                "valence",
                "co_creation",
                "model",
                confidence=0.5,
                evidence=(Span(0, 5), Span(9, 12)),
            ),
        ]
        with store.connection() as connection:
            coder_id = store.ensure_coder(project, Coder("model", kind="machine", model="m", version="1"), connection)
            pks = store.incident_pks(connection, project, ["cfpb-3416143", "nhs-553"])
            store.insert_codings(connection, project, codebook_pk, codings, {"model": coder_id}, pks)
    return project


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ProjectInfo]]:
    """One SQLite store for the read-only tests of this module."""
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "dev_items.csv").exists():
        pytest.skip(f"shared data not found at {data}")
    folder = tmp_path_factory.mktemp("export")
    store = Store.open(f"sqlite:///{folder / 'covalue.db'}", create=True)
    try:
        yield store, load(store, data, labelled=LABELLED, scratch=folder)
    finally:
        store.close()


def incidents_as_exported(store: Store, project: ProjectInfo, fmt: str) -> list[dict[str, Any]]:
    """What each format should hold for the store's incidents (CSV: text cells, '' for none)."""
    rows = []
    for i in store.iter_incidents(project):
        row = {
            "item_id": i.external_id,
            "text": i.text,
            "source": i.source,
            "relationship_type": i.relationship_type,
            "channel": i.channel,
            "date": i.occurred_at.isoformat() if i.occurred_at else None,
            "customer_id": i.customer_id,
            "thread_id": i.thread_id,
            "thread_position": i.thread_position,
            "metadata": i.metadata if fmt == "jsonl" else json.dumps(i.metadata, sort_keys=True, ensure_ascii=False),
        }
        if fmt == "csv":
            row = {k: "" if v is None else str(v) for k, v in row.items()}
        rows.append(row)
    return rows


def codings_as_exported(store: Store, project: ProjectInfo, fmt: str, coder: str | None) -> list[dict[str, Any]]:
    rows = []
    for c in store.iter_codings(project, coder=coder):
        evidence = [[s.start, s.end] for s in c.evidence]
        row = {
            "item_id": c.incident_id,
            "coder": c.coder,
            "codebook": c.codebook,
            "dimension": c.dimension,
            "code": c.code_id,
            "start": c.span.start if c.span else None,
            "end": c.span.end if c.span else None,
            "confidence": c.confidence,
            "evidence": evidence if fmt == "jsonl" else json.dumps(evidence),
            "round": c.round,
            "memo": c.memo,
        }
        if fmt == "csv":
            row = {k: "" if v is None else str(v) for k, v in row.items()}
        rows.append(row)
    return rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_incidents_export_reads_back_as_stored(fmt: str, loaded: tuple[Store, ProjectInfo], tmp_path: Path) -> None:
    store, project = loaded
    out = tmp_path / f"incidents.{fmt}"

    assert export_incidents(store, project, out) == 260

    header, *rows = read_back(out, fmt)
    assert header["__header__"] == INCIDENT_HEADER
    expected = incidents_as_exported(store, project, fmt)
    assert rows == expected
    assert sum(1 for row in rows if row["date"]) == 110  # not a comparison of empty columns
    assert {row["relationship_type"] for row in rows} >= {"G2C"}
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("coder", [None, "model"])
def test_codings_export_reads_back_as_stored(
    fmt: str, coder: str | None, loaded: tuple[Store, ProjectInfo], tmp_path: Path
) -> None:
    store, project = loaded
    out = tmp_path / f"codings.{fmt}"

    count = export_codings(store, project, out, coder=coder)

    header, *rows = read_back(out, fmt)
    assert header["__header__"] == CODING_HEADER
    assert count == len(rows) == (GOLD_CODINGS + 3 if coder is None else 3)
    assert rows == codings_as_exported(store, project, fmt, coder)
    spans = [row for row in rows if row["memo"]]
    assert [(row["start"], row["end"], row["memo"]) for row in spans] == [
        ("4", "40", MEMO) if fmt == "csv" else (4, 40, MEMO)
    ]


def test_guide_layout_round_trips_the_gold_file(shared_data: Path, sqlite_url: str, tmp_path: Path) -> None:
    store = Store.open(sqlite_url, create=True)
    try:
        project = load(store, shared_data)
        codebook = store.codebook(project, "vcd@1.0.0")
        exported = tmp_path / "gold.csv"
        assert export_codings(store, project, exported, coder="gold", codebook=codebook, layout="guide") == 260

        report = import_labels(store, project, exported, vcd(), Coder("copy"))

        assert (report.incidents, report.codings, report.skipped) == (260, 2213, 0)
        # Identical codings: the same per-code counts, and the copy's guide export is byte-identical.
        codebook_pk = codebook[0]
        assert store.code_counts(project, codebook_pk, "copy") == store.code_counts(project, codebook_pk, "gold")
        coders = store.summary(project)["coders"]
        assert coders["copy"] == coders["gold"] == {"kind": "human", "incidents": 260, "codings": 2213}
        again = tmp_path / "copy.csv"
        export_codings(store, project, again, coder="copy", codebook=codebook, layout="guide")
        assert again.read_bytes() == exported.read_bytes()
        gold_file = shared_data / "dev_gold.csv"
        with gold_file.open(encoding="utf-8", newline="") as original, exported.open(newline="") as written:
            assert list(csv.reader(written)) == list(csv.reader(original))
    finally:
        store.close()


def test_export_on_both_databases(db_url: str, dev_sample: Path, tmp_path: Path, shared_data: Path) -> None:
    """The JSON metadata and dates come back the same from PostgreSQL as from SQLite."""
    store = Store.open(db_url, create=True)
    try:
        project = store.create_project("dev")
        import_incidents(store, project, dev_sample)
        with (shared_data / "dev_gold.csv").open(encoding="utf-8", newline="") as handle:
            gold = list(csv.DictReader(handle))
        ids = {i.external_id for i in store.iter_incidents(project)}
        labels = tmp_path / "labels.csv"
        with labels.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, list(gold[0]))
            writer.writeheader()
            writer.writerows(row for row in gold if row["item_id"] in ids)
        import_labels(store, project, labels, vcd(), Coder("gold"))
        for fmt in ("csv", "jsonl"):
            out = tmp_path / f"incidents.{fmt}"
            assert export_incidents(store, project, out) == len(ids) == 26
            assert read_back(out, fmt)[1:] == incidents_as_exported(store, project, fmt)
            out = tmp_path / f"codings.{fmt}"
            count = export_codings(store, project, out)
            assert read_back(out, fmt)[1:] == codings_as_exported(store, project, fmt, None)
            assert count > 26
        rows = read_back(tmp_path / "incidents.jsonl", "jsonl")[1:]
        assert rows[0]["metadata"]["company"] == "Certegy Holdings, LLC"
        assert rows[0]["date"] == "2019-10-23T00:00:00"
    finally:
        store.close()


@pytest.fixture
def dev_sample(shared_data: Path, tmp_path: Path) -> Path:
    """Every 10th dev item: all five sources, with dates and relationship types from meta."""
    with (shared_data / "dev_items.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[::10]
    path = tmp_path / "sample.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------------------------
# Failures leave nothing behind


def test_export_into_a_missing_folder(loaded: tuple[Store, ProjectInfo], tmp_path: Path) -> None:
    store, project = loaded
    missing = tmp_path / "nowhere"
    with pytest.raises(CovalueError, match=r"folder .*nowhere.* does not exist"):
        export_incidents(store, project, missing / "incidents.csv")
    with pytest.raises(CovalueError, match="does not exist"):
        export_codings(store, project, missing / "codings.parquet")
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failing_export_leaves_no_partial_file(fmt: str, tmp_path: Path) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        for k in range(7000):  # past one Parquet batch, so part of the file has been written
            if k == 6500:
                raise RuntimeError("database went away")
            yield {"item_id": f"i{k}", "text": "x"}

    fresh = tmp_path / f"new.{fmt}"
    with pytest.raises(RuntimeError, match="went away"):
        write_rows(rows(), ("item_id", "text"), fresh, fmt)
    assert list(tmp_path.iterdir()) == []

    existing = tmp_path / f"old.{fmt}"
    existing.write_bytes(b"earlier export")
    with pytest.raises(RuntimeError, match="went away"):
        write_rows(rows(), ("item_id", "text"), existing, fmt)
    assert list(tmp_path.iterdir()) == [existing]
    assert existing.read_bytes() == b"earlier export"


@pytest.mark.parametrize("name", ["incidents.xlsx", "incidents", "incidents.json.gz"])
def test_unknown_extension(name: str, loaded: tuple[Store, ProjectInfo], tmp_path: Path) -> None:
    store, project = loaded
    with pytest.raises(CovalueError, match=r"cannot tell the export format .* use \.csv, \.parquet or \.jsonl"):
        export_incidents(store, project, tmp_path / name)
    with pytest.raises(CovalueError, match="unknown export format 'xlsx'; choose one of csv, parquet, jsonl"):
        export_incidents(store, project, tmp_path / "incidents.csv", "xlsx")
    assert list(tmp_path.iterdir()) == []
    # An explicit format wins over an unknown extension.
    assert export_incidents(store, project, tmp_path / name, "jsonl") == 260
    assert len(read_back(tmp_path / name, "jsonl")) == 261


def test_guide_layout_needs_one_coder_and_a_codebook(loaded: tuple[Store, ProjectInfo], tmp_path: Path) -> None:
    store, project = loaded
    codebook = (store.codebooks(project)[0][0], vcd())
    with pytest.raises(CovalueError, match="the guide layout needs one coder"):
        export_codings(store, project, tmp_path / "g.csv", codebook=codebook, layout="guide")
    with pytest.raises(CovalueError, match="the guide layout needs one coder"):
        export_codings(store, project, tmp_path / "g.csv", coder="gold", layout="guide")
    assert list(tmp_path.iterdir()) == []
