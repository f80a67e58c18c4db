"""Imports into a real database: the dev set as is, every format, every bad input, and label files."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from covalue.errors import InputError
from covalue.framework import Codebook, load_codebook
from covalue.ingest.importer import ImportOptions, import_incidents
from covalue.ingest.labels import import_labels
from covalue.interchange.tables import export_codings
from covalue.model import Coder
from covalue.store import ProjectInfo, Store

COLUMNS = ["item_id", "source", "text", "meta"]
LIFTED = ("date", "relationship_type")


# --------------------------------------------------------------------------------------------
# Helpers: an independent oracle (the csv and json modules) and a snapshot of everything stored


@functools.cache
def vcd() -> Codebook:
    """The bundled codebook, parsed once (parsing 60 KB of YAML takes a noticeable fraction of a second)."""
    return load_codebook("vcd")


def read_csv(path: Path) -> tuple[dict[str, str], ...]:
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


csv_rows = functools.cache(read_csv)  # for the read-only shared data


def oracle_date(text: str | None) -> datetime | None:
    """The meta dates of the dev set: CFPB writes 2019/10/23, Booking.com 10/23/2019 (US order)."""
    if text is None:
        return None
    return datetime.strptime(text, "%Y/%m/%d" if re.match(r"\d{4}/", text) else "%m/%d/%Y")


def expected_incident(row: dict[str, str]) -> dict[str, Any]:
    """What the store should hold for a dev_items.csv row: meta's date and relationship lifted."""
    meta = json.loads(row["meta"])
    relationship = meta.pop("relationship_type", None)
    occurred = oracle_date(meta.pop("date", None))
    return {
        "id": row["item_id"],
        "text": row["text"],
        "source": row["source"],
        "relationship_type": relationship,
        "occurred_at": occurred,
        "metadata": {key: value for key, value in meta.items() if value != ""},
    }


def stored_incidents(store: Store, project: ProjectInfo) -> list[dict[str, Any]]:
    return [
        {
            "id": i.external_id,
            "text": i.text,
            "source": i.source,
            "relationship_type": i.relationship_type,
            "occurred_at": i.occurred_at,
            "metadata": i.metadata,
        }
        for i in store.iter_incidents(project)
    ]


def state(store: Store, project: ProjectInfo) -> dict[str, Any]:
    """Everything an import may touch: incidents, coders, codings, codebooks and the import log."""
    return {
        "incidents": store.count_incidents(project),
        "ids": [i.external_id for i in store.iter_incidents(project)],
        "coders": store.coders(project),
        "codings": [(c.incident_id, c.coder, c.dimension, c.code_id) for c in store.iter_codings(project)],
        "codebooks": store.codebooks(project),
        "imports": [(i["id"], i["kind"], i["rows_imported"]) for i in store.imports(project)],
    }


def write_csv(path: Path, rows: list[list[str]], header: list[str] = COLUMNS) -> list[int]:
    """Write rows with the csv module; return the line on which each row starts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    starts = []
    for row in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow(row)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return starts


def as_lists(rows: tuple[dict[str, str], ...] | list[dict[str, str]]) -> list[list[str]]:
    return [[row[c] for c in COLUMNS] for row in rows]


def gold_codings(row: dict[str, str]) -> list[tuple[str, str]]:
    return [(dim, code) for dim, cell in row.items() if dim != "item_id" and cell for code in cell.split(";")]


def codings_by_incident(store: Store, project: ProjectInfo, coder: str) -> dict[str, list[tuple[str, str]]]:
    return {
        item: [(c.dimension, c.code_id) for c in codings]
        for item, codings in store.iter_codings_by_incident(project, coder=coder)
    }


def _open(url: str) -> Iterator[Store]:
    store = Store.open(url, create=True)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    """A fresh SQLite store, for tests where the backend does not matter."""
    yield from _open(sqlite_url)


@pytest.fixture
def any_store(db_url: str) -> Iterator[Store]:
    """A fresh store on SQLite and on PostgreSQL."""
    yield from _open(db_url)


@pytest.fixture
def dev_rows(shared_data: Path) -> tuple[dict[str, str], ...]:
    return csv_rows(shared_data / "dev_items.csv")


@pytest.fixture
def gold_rows(shared_data: Path) -> tuple[dict[str, str], ...]:
    return csv_rows(shared_data / "dev_gold.csv")


# --------------------------------------------------------------------------------------------
# The dev set loads with no mapping code


def test_dev_items_and_gold_load_as_they_are(
    any_store: Store, shared_data: Path, dev_rows: tuple[dict[str, str], ...], tmp_path: Path
) -> None:
    store = any_store
    project = store.create_project("dev")
    report = import_incidents(store, project, shared_data / "dev_items.csv")
    assert (report.imported, report.skipped, report.format) == (260, 0, "csv")
    assert report.mapping.columns == {"text": "text", "id": "item_id", "source": "source"}

    stored = stored_incidents(store, project)
    assert len(stored) == store.count_incidents(project) == 260
    assert stored == [expected_incident(row) for row in dev_rows]
    # The lifting is real, not vacuous: 110 dates and 40 relationship types come from meta.
    assert sum(i["occurred_at"] is not None for i in stored) == 110
    assert [i["relationship_type"] for i in stored].count("G2C") == 40
    assert store.incident(project, "cfpb-3416143").occurred_at == datetime(2019, 10, 23)

    gold_path = shared_data / "dev_gold.csv"
    gold = csv_rows(gold_path)
    labels = import_labels(store, project, gold_path, vcd(), Coder("gold"))
    assert (labels.incidents, labels.skipped, labels.replaced) == (260, 0, 0)
    assert labels.codings == sum(len(gold_codings(row)) for row in gold)
    assert labels.codings == 2213
    assert store.summary(project)["coders"] == {"gold": {"kind": "human", "incidents": 260, "codings": 2213}}

    # Cell by cell: the guide export of what was stored is the gold file.
    out = tmp_path / "gold_again.csv"
    written = export_codings(store, project, out, coder="gold", codebook=store.codebook(project, "vcd"), layout="guide")
    assert written == 260
    assert read_csv(out) == gold

    log = store.imports(project)
    assert [(i["kind"], i["format"], i["rows_imported"], i["rows_skipped"]) for i in log] == [
        ("incidents", "csv", 260, 0),
        ("labels", "csv", 260, 0),
    ]
    assert all(i["finished_at"] is not None and i["problems"] == [] for i in log)


# --------------------------------------------------------------------------------------------
# Every format, end to end


FORMATS = ["csv", "tsv", "jsonl", "parquet", "xlsx", "folder"]


def write_format(fmt: str, rows: list[dict[str, str]], folder: Path) -> Path:
    """The sample as a user would have it in each format (JSONL with meta as a nested object)."""
    if fmt in ("csv", "tsv"):
        path = folder / f"items.{fmt}"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="," if fmt == "csv" else "\t")
            writer.writerow(COLUMNS)
            writer.writerows(as_lists(rows))
        return path
    if fmt == "jsonl":
        path = folder / "items.jsonl"
        lines = [json.dumps({**row, "meta": json.loads(row["meta"])}, ensure_ascii=False) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    if fmt == "parquet":
        path = folder / "items.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
        return path
    if fmt == "xlsx":
        path = folder / "items.xlsx"
        book = Workbook(write_only=True)
        sheet = book.create_sheet("incidents")
        sheet.append(COLUMNS)
        for row in as_lists(rows):
            sheet.append(row)
        book.save(path)
        return path
    path = folder / "texts"
    path.mkdir()
    for row in rows:
        (path / f"{row['item_id']}.txt").write_text(row["text"], encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_imports_the_same_incidents(
    fmt: str, store: Store, dev_rows: tuple[dict[str, str], ...], tmp_path: Path
) -> None:
    sample = list(dev_rows[::13])  # 20 rows from all five sources, multi-line texts included
    assert {row["source"] for row in sample} == {"cfpb", "airline", "twcs", "booking", "nhs_care_opinion"}
    path = write_format(fmt, sample, tmp_path)
    project = store.create_project(f"from-{fmt}")

    report = import_incidents(store, project, path)

    assert (report.imported, report.skipped, report.format) == (20, 0, fmt)
    stored = stored_incidents(store, project)
    if fmt == "folder":  # a text folder has ids (file names) and texts only
        assert [(i["id"], i["text"]) for i in stored] == sorted((r["item_id"], r["text"]) for r in sample)
        assert all(i["metadata"] == {"filename": i["id"] + ".txt"} for i in stored)
    else:
        assert stored == [expected_incident(row) for row in sample]
    assert [(i["format"], i["rows_imported"]) for i in store.imports(project)] == [(fmt, 20)]


# --------------------------------------------------------------------------------------------
# Bad input: nothing written, and the error says file, line and field

BAD = 6  # index of the broken row among the 12 rows of the bad file
SEED = slice(20, 25)  # rows imported earlier, so "unchanged" is checked against a non-empty project


def make_bad_file(
    case: str, rows: tuple[dict[str, str], ...], folder: Path
) -> tuple[Path, ImportOptions, int, str | None, str]:
    """A file from 12 real rows with one fault; returns path, options, line, field, message."""
    body = as_lists(rows[:12])
    header = COLUMNS
    options = ImportOptions()
    field: str | None = "text"
    row = body[BAD]
    if case == "wrong-encoding":
        row[2] = "Café staff were rude and the refund never came."
        field, message = None, "not valid UTF-8 (byte 0xe9"
    elif case == "extra-fields":
        row.append("surplus")
        field, message = None, "expected 4 fields, found 5"
    elif case == "missing-text-column":
        header = ["item_id", "source", "words", "meta"]
        message = "no text column found among: item_id, source, words, meta"
    elif case == "empty-text":
        row[2] = "   "
        message = "empty text"
    elif case == "duplicate-in-file":
        row[0] = body[2][0]
        field, message = "item_id", f"duplicate id {body[2][0]!r}"
    elif case == "duplicate-of-earlier-import":
        row[0] = rows[SEED][1]["item_id"]
        field, message = "item_id", f"duplicate id {row[0]!r}: already in project"
    elif case == "oversized-field":
        row[2] = (row[2] + " ") * 40
        options = ImportOptions(max_field_chars=5000)
        message = f"field is {len(row[2]):,} characters; the limit is 5,000 (--max-field-chars)"
    elif case == "oversized-text":
        row[2] = "x" * 2501
        options = ImportOptions(max_text_chars=2500)
        message = "text is 2,501 characters; the limit is 2,500 (--max-text-chars)"
    elif case == "bad-date":
        row[3] = json.dumps({"product": "Mortgage", "date": "2019/13/45"})
        field, message = "meta.date", "cannot read date '2019/13/45'"
    elif case == "bad-relationship-type":
        row[3] = json.dumps({"organization": "Care Opinion", "relationship_type": "C2C"})
        field, message = "meta.relationship_type", "relationship type 'C2C' is not one of B2C, B2B, B2G, G2C"
    else:  # pragma: no cover
        raise AssertionError(case)
    path = folder / "bad.csv"
    starts = write_csv(path, body, header)
    if case == "wrong-encoding":
        path.write_bytes(path.read_bytes().replace("Café".encode(), b"Caf\xe9"))
    line = 1 if case == "missing-text-column" else starts[BAD]
    return path, options, line, field, message


BAD_CASES = [
    "wrong-encoding",
    "extra-fields",
    "missing-text-column",
    "empty-text",
    "duplicate-in-file",
    "duplicate-of-earlier-import",
    "oversized-field",
    "oversized-text",
    "bad-date",
    "bad-relationship-type",
]
# Duplicates go through the database's unique index and savepoints: those must hold on PostgreSQL too.
POSTGRES_CASES = ["duplicate-in-file", "duplicate-of-earlier-import"]


@pytest.mark.parametrize(
    ("case", "backend"),
    [(case, "sqlite") for case in BAD_CASES]
    + [pytest.param(case, "postgres", marks=pytest.mark.postgres) for case in POSTGRES_CASES],
)
def test_bad_input_names_file_line_and_field_and_writes_nothing(
    case: str,
    backend: str,
    request: pytest.FixtureRequest,
    dev_rows: tuple[dict[str, str], ...],
    tmp_path: Path,
) -> None:
    store = Store.open(request.getfixturevalue(f"{backend}_url"), create=True)
    try:
        project = store.create_project("study")
        seed = tmp_path / "seed.csv"
        write_csv(seed, as_lists(dev_rows[SEED]))
        import_incidents(store, project, seed)
        path, options, line, field, message = make_bad_file(case, dev_rows, tmp_path)
        if case != "missing-text-column":
            assert line > BAD + 2  # multi-line texts before it: the line is not just the row number
        before = state(store, project)
        assert before["incidents"] == 5 and len(before["imports"]) == 1

        with pytest.raises(InputError) as info:
            import_incidents(store, project, path, options)

        error = info.value
        assert (error.file, error.line, error.field) == (str(path), line, field)
        assert message in error.message
        where = f"{path}:{line}: " + (f"field {field!r}: " if field else "")
        assert str(error).startswith(where)
        assert state(store, project) == before
    finally:
        store.close()


def test_skip_bad_imports_the_good_rows_and_logs_the_bad(
    any_store: Store, dev_rows: tuple[dict[str, str], ...], tmp_path: Path
) -> None:
    store = any_store
    project = store.create_project("study")
    seed = tmp_path / "seed.csv"
    write_csv(seed, as_lists(dev_rows[SEED]))
    import_incidents(store, project, seed)
    body = as_lists(dev_rows[:12])
    body[3][2] = ""  # empty text
    body[5].append("surplus")  # extra field
    body[7][0] = body[1][0]  # duplicate within the file
    body[9][3] = json.dumps({"date": "someday"})  # unreadable date
    body[10][0] = dev_rows[SEED][0]["item_id"]  # duplicate of the earlier import
    path = tmp_path / "mixed.csv"
    starts = write_csv(path, body)

    report = import_incidents(store, project, path, ImportOptions(skip_bad=True, batch_size=4))

    assert (report.imported, report.skipped) == (7, 5)
    expected = {
        starts[3]: ("text", "empty text"),
        starts[5]: (None, "expected 4 fields, found 5"),
        starts[7]: ("item_id", f"duplicate id {body[1][0]!r}"),
        starts[9]: ("meta.date", "cannot read date 'someday'"),
        starts[10]: ("item_id", f"duplicate id {body[10][0]!r}"),
    }
    problems = sorted(report.problems, key=lambda p: p.line or 0)
    assert [(p.file, p.line, p.field) for p in problems] == [
        (str(path), line, field) for line, (field, _) in sorted(expected.items())
    ]
    assert all(expected[p.line][1] in p.message for p in problems)

    good = [i for i in range(12) if i not in (3, 5, 7, 9, 10)]
    ids = [i["id"] for i in stored_incidents(store, project)]
    assert ids[:5] == [r["item_id"] for r in dev_rows[SEED]]
    assert sorted(ids[5:]) == sorted(body[i][0] for i in good)
    assert store.incident(project, body[1][0]).text == body[1][2]  # the first occurrence won

    log = store.imports(project)[-1]
    assert (log["path"], log["rows_imported"], log["rows_skipped"]) == (str(path), 7, 5)
    assert sorted(log["problems"], key=lambda p: p["line"]) == [
        {"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in problems
    ]


@pytest.mark.parametrize(
    ("fault", "backend"),
    [
        ("empty-text", "sqlite"),
        ("duplicate-of-first-batch", "sqlite"),
        pytest.param("duplicate-of-first-batch", "postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_later_batch_failing_rolls_back_the_earlier_batches(
    fault: str,
    backend: str,
    request: pytest.FixtureRequest,
    dev_rows: tuple[dict[str, str], ...],
    tmp_path: Path,
) -> None:
    store = Store.open(request.getfixturevalue(f"{backend}_url"), create=True)
    request.addfinalizer(store.close)
    project = store.create_project("study")
    seed = tmp_path / "seed.csv"
    write_csv(seed, as_lists(dev_rows[130:133]))
    import_incidents(store, project, seed)
    before = state(store, project)
    # Single-line texts, so the broken row sits at line 35, in the 4th batch of 10.
    body = as_lists([row for row in dev_rows if "\n" not in row["text"]][:40])
    if fault == "empty-text":
        body[33][2] = ""
        field = "text"
    else:
        body[33][0] = body[2][0]
        field = "item_id"
    path = tmp_path / "batches.csv"
    assert write_csv(path, body)[33] == 35
    flushed: list[int] = []

    with pytest.raises(InputError) as info:
        import_incidents(store, project, path, ImportOptions(batch_size=10), progress=flushed.append)

    assert (info.value.line, info.value.field) == (35, field)
    assert flushed == [10, 20, 30]  # three batches had been inserted before the failure
    assert state(store, project) == before


# --------------------------------------------------------------------------------------------
# Label files


@pytest.fixture
def dev_store(store: Store, shared_data: Path) -> tuple[Store, ProjectInfo]:
    """SQLite store with the 260 dev incidents and no codebook or coder yet."""
    project = store.create_project("dev")
    import_incidents(store, project, shared_data / "dev_items.csv")
    return store, project


def write_labels(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    header = header or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n", restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


LABEL_CASES = {
    # case: (change to row 5 of 10 (line 7), field, message)
    "unknown-code": ({"valence": "great"}, "valence", "unknown code 'great' (allowed: "),
    "grouping-code": ({"reasons": "R4.1;R4"}, "reasons", "'R4' is a grouping, not a codable code"),
    "two-values-in-single-field": (
        {"valence": "mixed;co_creation"},
        "valence",
        "takes one value but got 2: mixed;co_creation",
    ),
    "unknown-item": ({"item_id": "nowhere-1"}, "item_id", "no incident 'nowhere-1' in project 'dev'"),
    "duplicate-item": ({"item_id": "@2"}, "item_id", "is labelled twice in this file"),
    "already-coded": ({}, "item_id", "coder 'gold' has already coded"),
}


@pytest.mark.parametrize(
    ("case", "backend"),
    [(case, "sqlite") for case in LABEL_CASES] + [pytest.param("unknown-item", "postgres", marks=pytest.mark.postgres)],
)
def test_bad_label_rows_name_line_and_field_and_write_nothing(
    case: str,
    backend: str,
    request: pytest.FixtureRequest,
    shared_data: Path,
    gold_rows: tuple[dict[str, str], ...],
    tmp_path: Path,
) -> None:
    store = Store.open(request.getfixturevalue(f"{backend}_url"), create=True)
    request.addfinalizer(store.close)
    project = store.create_project("dev")
    import_incidents(store, project, shared_data / "dev_items.csv")
    rows = [dict(row) for row in gold_rows[:10]]
    change, field, message = LABEL_CASES[case]
    if change.get("item_id") == "@2":
        change = {"item_id": rows[2]["item_id"]}
    rows[5].update(change)
    if case == "already-coded":
        earlier = tmp_path / "earlier.csv"
        write_labels(earlier, [rows[5]])
        import_labels(store, project, earlier, vcd(), Coder("gold"))
    path = tmp_path / "labels.csv"
    write_labels(path, rows)
    before = state(store, project)

    with pytest.raises(InputError) as info:
        import_labels(store, project, path, vcd(), Coder("gold"))

    assert (info.value.file, info.value.line, info.value.field) == (str(path), 7, field)
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:7: field {field!r}: ")
    assert state(store, project) == before
    if case != "already-coded":  # not even the coder or the codebook snapshot was left behind
        assert before["coders"] == before["codebooks"] == []


@pytest.mark.parametrize(
    ("header", "field", "message"),
    [
        (["item_id", "valence", "mood"], "mood", "column(s) mood are not dimensions of codebook vcd@1.0.0"),
        (["id", "valence"], "item_id", "no 'item_id' column"),
    ],
)
def test_bad_label_header(
    header: list[str],
    field: str,
    message: str,
    dev_store: tuple[Store, ProjectInfo],
    gold_rows: tuple[dict[str, str], ...],
    tmp_path: Path,
) -> None:
    store, project = dev_store
    path = tmp_path / "labels.csv"
    row = gold_rows[0]
    write_labels(path, [{"item_id": row["item_id"], "id": row["item_id"], "valence": row["valence"]}], header)
    before = state(store, project)
    with pytest.raises(InputError) as info:
        import_labels(store, project, path, vcd(), Coder("gold"))
    assert (info.value.line, info.value.field) == (1, field)
    assert message in info.value.message
    assert state(store, project) == before


def test_replace_overwrites_the_coders_earlier_codings(
    any_store: Store,
    dev_rows: tuple[dict[str, str], ...],
    gold_rows: tuple[dict[str, str], ...],
    tmp_path: Path,
) -> None:
    store = any_store
    project = store.create_project("dev")
    items = tmp_path / "items.csv"
    write_csv(items, as_lists(dev_rows[:10]))
    import_incidents(store, project, items)
    first = tmp_path / "gold.csv"
    rows = [dict(row) for row in gold_rows[:10]]
    write_labels(first, rows)
    import_labels(store, project, first, vcd(), Coder("gold"))
    import_labels(store, project, first, vcd(), Coder("second"))  # another coder: must stay untouched
    before = codings_by_incident(store, project, "gold")

    revised = [
        {**rows[2], "valence": "co_creation", "reasons": "", "positive_factors": "helpful_employee"},
        {**rows[7], "valence": "mixed", "reasons": "R1.1;R9.3"},
    ]
    path = tmp_path / "revised.csv"
    write_labels(path, revised)
    with pytest.raises(InputError, match="already coded"):
        import_labels(store, project, path, vcd(), Coder("gold"))

    report = import_labels(store, project, path, vcd(), Coder("gold"), replace=True)

    old = before[rows[2]["item_id"]] + before[rows[7]["item_id"]]
    new = gold_codings(revised[0]) + gold_codings(revised[1])
    assert (report.incidents, report.replaced, report.codings) == (2, len(old), len(new))
    after = codings_by_incident(store, project, "gold")
    assert after == {
        **before,
        rows[2]["item_id"]: gold_codings(revised[0]),
        rows[7]["item_id"]: gold_codings(revised[1]),
    }
    assert after[rows[2]["item_id"]] != before[rows[2]["item_id"]]
    assert codings_by_incident(store, project, "second") == before


def test_skip_bad_labels(
    dev_store: tuple[Store, ProjectInfo], gold_rows: tuple[dict[str, str], ...], tmp_path: Path
) -> None:
    store, project = dev_store
    rows = [dict(row) for row in gold_rows[:10]]
    rows[3]["phase"] = "during;after"
    rows[6]["item_id"] = "nowhere-7"
    rows[8]["item_id"] = rows[1]["item_id"]
    path = tmp_path / "labels.csv"
    write_labels(path, rows)

    report = import_labels(store, project, path, vcd(), Coder("gold"), skip_bad=True)

    good = [rows[i] for i in range(10) if i not in (3, 6, 8)]
    assert (report.incidents, report.skipped) == (7, 3)
    assert report.codings == sum(len(gold_codings(row)) for row in good)
    problems = sorted(report.problems, key=lambda p: p.line or 0)
    assert [(p.line, p.field) for p in problems] == [(5, "phase"), (8, "item_id"), (10, "item_id")]
    assert "takes one value but got 2" in problems[0].message
    assert "no incident 'nowhere-7'" in problems[1].message
    assert "labelled twice" in problems[2].message
    assert codings_by_incident(store, project, "gold") == {row["item_id"]: gold_codings(row) for row in good}
    log = store.imports(project)[-1]
    assert (log["kind"], log["rows_imported"], log["rows_skipped"]) == ("labels", 7, 3)
    assert sorted(log["problems"], key=lambda p: p["line"]) == [
        {"file": str(path), "line": p.line, "field": p.field, "message": p.message} for p in problems
    ]
