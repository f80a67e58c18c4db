"""Streaming readers: real data in every format, and every kind of broken input, located exactly."""

from __future__ import annotations

import csv
import json
import tracemalloc
from datetime import datetime
from itertools import islice, pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from covalue.errors import InputError
from covalue.ingest.readers import (
    CsvReader,
    RawRecord,
    Reader,
    RecordProblem,
    detect_format,
    open_reader,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEV_ITEMS = DATA / "dev_items.csv"
RAW_CSVS = sorted(DATA.glob("raw/*/*.csv"))
SAMPLE_ROWS = 50

needs_data = pytest.mark.skipif(not DEV_ITEMS.is_file(), reason=f"shared data not found at {DATA}")


def items(reader: Reader) -> tuple[list[RawRecord], list[RecordProblem]]:
    records, problems = [], []
    for item in reader:
        (records if isinstance(item, RawRecord) else problems).append(item)
    return records, problems


def read(path: Path, **options: object) -> tuple[list[RawRecord], list[RecordProblem]]:
    with open_reader(path, **options) as reader:
        return items(reader)


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# --------------------------------------------------------------------------------------------
# Real data in all five formats


@pytest.fixture(scope="module")
def dev_sample() -> list[dict[str, str]]:
    """First rows of dev_items.csv read by the stdlib csv module: the independent oracle."""
    if not DEV_ITEMS.is_file():
        pytest.skip(f"shared data not found at {DATA}")
    with DEV_ITEMS.open(encoding="utf-8", newline="") as handle:
        return list(islice(csv.DictReader(handle), SAMPLE_ROWS))


@pytest.fixture(scope="module")
def copies(dev_sample: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample written as TSV, JSONL, Parquet, XLSX and a text folder."""
    folder = tmp_path_factory.mktemp("copies")
    columns = list(dev_sample[0])
    tsv = folder / "items.tsv"
    with tsv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in dev_sample)
    jsonl = folder / "items.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in dev_sample), encoding="utf-8")
    parquet = folder / "items.parquet"
    pq.write_table(pa.Table.from_pylist(dev_sample), parquet, row_group_size=16)
    xlsx = folder / "items.xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("items")
    sheet.append(columns)
    for row in dev_sample:
        sheet.append([row[c] for c in columns])
    book.save(xlsx)
    texts = folder / "texts"
    for row in dev_sample:
        target = texts / row["source"] / f"{row['item_id']}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(row["text"].encode("utf-8"))
    return {"tsv": tsv, "jsonl": jsonl, "parquet": parquet, "xlsx": xlsx, "folder": texts}


@needs_data
def test_csv_reads_dev_items_with_record_start_lines(dev_sample: list[dict[str, str]]) -> None:
    with open_reader(DEV_ITEMS) as reader:
        assert isinstance(reader, CsvReader)
        assert (reader.format, reader.delimiter, reader.columns) == ("csv", ",", list(dev_sample[0]))
        records, problems = items(reader)
    assert problems == []
    assert len(records) == 260
    assert [r.values for r in records[:SAMPLE_ROWS]] == dev_sample
    # Texts span several lines; each record starts on the line that begins with its id.
    lines = DEV_ITEMS.read_text(encoding="utf-8").split("\n")
    for record in records:
        assert lines[record.line - 1].startswith(record.values["item_id"] + ",")
    assert any(r2.line - r1.line > 1 for r1, r2 in pairwise(records))


@needs_data
@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet", "xlsx", "folder"])
def test_every_format_gives_the_same_records(
    fmt: str, copies: dict[str, Path], dev_sample: list[dict[str, str]]
) -> None:
    records, problems = read(copies[fmt])
    assert problems == []
    if fmt == "folder":
        got = {r.values["id"]: r.values["text"] for r in records}
        assert got == {f"{row['source']}/{row['item_id']}": row["text"] for row in dev_sample}
        assert [r.values["filename"] for r in records] == sorted(f"{k}.txt" for k in got)
        assert all(r.line == 1 and r.file.endswith(r.values["filename"]) for r in records)
        return
    assert [(r.values["item_id"], r.values["text"]) for r in records] == [
        (row["item_id"], row["text"]) for row in dev_sample
    ]
    assert [r.values for r in records] == dev_sample
    first_line = {"tsv": 2, "jsonl": 1, "parquet": 1, "xlsx": 2}[fmt]
    assert records[0].line == first_line
    if fmt in ("jsonl", "parquet", "xlsx"):  # one line or row per record
        assert [r.line for r in records] == list(range(first_line, first_line + SAMPLE_ROWS))


@needs_data
@pytest.mark.parametrize("path", RAW_CSVS, ids=lambda p: p.name)
def test_real_raw_files_read_completely(path: Path) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        expected = list(csv.DictReader(handle))
    records, problems = read(path)
    assert problems == []
    assert len(records) == len(expected)
    assert records[0].values == expected[0]
    assert records[-1].values == expected[-1]


# --------------------------------------------------------------------------------------------
# CSV problems, each at its exact line


def test_latin1_bytes_name_line_and_column_and_reading_continues(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"id,text\n1,fine\n2,caf\xe9 au lait\n3,also fine\n")
    records, problems = read(path)
    assert [r.values["id"] for r in records] == ["1", "3"]
    assert [r.line for r in records] == [2, 4]
    assert problems == [
        RecordProblem(
            str(path),
            3,
            None,
            "not valid UTF-8 (byte 0xe9 at column 6); re-save the file as UTF-8 or pass --encoding",
        )
    ]


def test_latin1_file_reads_with_its_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,text\n1,café\n".encode("latin-1"))
    records, problems = read(path, encoding="latin-1")
    assert problems == [] and records[0].values["text"] == "café"


def test_extra_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "a,b,c,d\n1,2,3,4\n1,2,3,4,5,6\n1,2,3,4\n")
    records, problems = read(path)
    assert [r.line for r in records] == [2, 4]
    assert problems == [RecordProblem(str(path), 3, None, "expected 4 fields, found 6")]


def test_multiline_quoted_field_keeps_later_line_numbers(tmp_path: Path) -> None:
    content = 'id,text\n1,"first\nsecond\n\nfourth"\n\n2,after\n3,"x\r\ny"\n4,last\n'
    records, problems = read(write(tmp_path / "a.csv", content))
    assert problems == []
    assert [(r.values["id"], r.line) for r in records] == [("1", 2), ("2", 7), ("3", 8), ("4", 10)]
    assert records[0].values["text"] == "first\nsecond\n\nfourth"


def test_unterminated_quote_stops_at_the_record_that_opens_it(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'id,text\n1,ok\n2,"never closed\n3,lost\n4,lost\n')
    records, problems = read(path)
    assert [r.values["id"] for r in records] == ["1"]
    assert len(problems) == 1
    assert (problems[0].line, problems[0].field) == (3, None)
    assert "never closed" in problems[0].message
    assert problems[0].message.endswith("the rest of the file was not read")


def test_quote_followed_by_text_is_a_csv_error(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'id,text\n1,ok\n2,"quoted"trailing\n3,lost\n')
    records, problems = read(path)
    assert [r.values["id"] for r in records] == ["1"]
    assert problems[0].line == 3 and problems[0].message.startswith("malformed CSV")


def test_oversized_field_names_the_column(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", f"id,text\n1,short\n2,{'x' * 2345}\n3,short\n")
    records, problems = read(path, max_field_chars=1000)
    assert [r.values["id"] for r in records] == ["1", "3"]
    assert problems == [
        RecordProblem(str(path), 3, "text", "field is 2,345 characters; the limit is 1,000 (--max-field-chars)")
    ]


def test_nul_byte_is_a_record_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"id,text\n1,a\x00b\n2,ok\n")
    records, problems = read(path)
    assert [r.values["id"] for r in records] == ["2"]
    assert problems[0].line == 2 and "NUL" in problems[0].message


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,text,id", "duplicate column name 'id' in the header (columns 1 and 3)"),
        ("id,,text", "column 2 of the header has no name"),
    ],
)
def test_bad_header_is_a_file_error(tmp_path: Path, header: str, message: str) -> None:
    path = write(tmp_path / "a.csv", f"{header}\n1,2,3\n")
    with pytest.raises(InputError) as caught:
        open_reader(path)
    assert (caught.value.file, caught.value.line, caught.value.message) == (str(path), 1, message)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        open_reader(write(tmp_path / "a.csv", content))


def test_bom_blank_lines_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"\xef\xbb\xbfid,text\r\n\r\n1,one\r\n,\r\n2,two\r\n")
    with open_reader(path) as reader:
        assert reader.columns == ["id", "text"]
        records, problems = items(reader)
    assert problems == []
    assert [(r.line, r.values) for r in records] == [
        (3, {"id": "1", "text": "one"}),
        (5, {"id": "2", "text": "two"}),
    ]


@pytest.mark.parametrize(("delimiter", "suffix"), [(";", ".csv"), ("|", ".csv"), ("\t", ".csv"), ("\t", ".tab")])
def test_delimiter_is_sniffed_or_given_by_extension(tmp_path: Path, delimiter: str, suffix: str) -> None:
    rows = ["id", "text", "score"], ["1", "a, b and c", "3"], ["2", "d; e", "4"]
    content = "\n".join(delimiter.join(f'"{v}"' if "," in v or ";" in v else v for v in row) for row in rows)
    with open_reader(write(tmp_path / f"a{suffix}", content + "\n")) as reader:
        assert reader.delimiter == delimiter
        records, problems = items(reader)
    assert problems == [] and records[0].values == {"id": "1", "text": "a, b and c", "score": "3"}


def test_sniffing_trusts_the_header_over_punctuation_in_texts(tmp_path: Path) -> None:
    texts = ["first; second; third; fourth"] * 30
    content = "id,text\n" + "".join(f"{i},{text}\n" for i, text in enumerate(texts))
    with open_reader(write(tmp_path / "a.csv", content)) as reader:
        assert reader.delimiter == ","
        records, problems = items(reader)
    assert problems == [] and records[0].values["text"] == texts[0]


@pytest.mark.parametrize("given", ["\\t", "tab", "\t"])
def test_tab_delimiter_can_be_spelled_out(tmp_path: Path, given: str) -> None:
    with open_reader(write(tmp_path / "a.csv", "id\ttext\n1\ta,b\n"), delimiter=given) as reader:
        assert reader.delimiter == "\t"


def test_bad_delimiter(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must be one character"):
        open_reader(write(tmp_path / "a.csv", "id,text\n"), delimiter=";;")


def test_problem_becomes_an_input_error() -> None:
    error = RecordProblem("a.csv", 3, "text", "empty text").to_error()
    assert (error.file, error.line, error.field, error.message) == ("a.csv", 3, "text", "empty text")
    assert str(error) == "a.csv:3: field 'text': empty text"


def test_utf16_file_with_bom_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "id\ttext\n1\tnaïve\n2\t日本\n".encode("utf-16"))
    records, problems = read(path)
    assert problems == []
    assert [(r.line, r.values["text"]) for r in records] == [(2, "naïve"), (3, "日本")]


# --------------------------------------------------------------------------------------------
# JSON Lines


def test_jsonl_problems_and_varying_keys(tmp_path: Path) -> None:
    lines = [
        '{"id": 1, "text": "a"}',
        "",
        '{"id": 2, "text": ',
        "[1, 2]",
        '{"id": 3, "text": "c", "extra": true}',
    ]
    path = write(tmp_path / "a.jsonl", "\n".join(lines) + "\n")
    with open_reader(path) as reader:
        assert reader.columns == ["id", "text"]
        records, problems = items(reader)
    assert [(r.line, r.values) for r in records] == [
        (1, {"id": 1, "text": "a"}),
        (5, {"id": 3, "text": "c", "extra": True}),
    ]
    assert [(p.line, p.field) for p in problems] == [(3, None), (4, None)]
    assert problems[0].message == "invalid JSON: Expecting value (column 19)"
    assert problems[1].message == "expected a JSON object, found list"


def test_jsonl_columns_come_from_the_first_good_object(tmp_path: Path) -> None:
    path = write(tmp_path / "a.ndjson", 'not json\n{"text": "a", "id": "x"}\n')
    with open_reader(path) as reader:
        assert reader.columns == ["text", "id"]


def test_json_array_is_rejected_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", '[{"id": 1, "text": "a"}]\n')
    with pytest.raises(InputError, match="JSON array, not JSON Lines") as caught:
        open_reader(path)
    assert caught.value.line == 1


# --------------------------------------------------------------------------------------------
# Parquet and Excel


def test_parquet_rows_are_numbered_across_batches(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    table = pa.table({"tweet_id": [570306133677760513 + i for i in range(5)], "text": list("abcde")})
    pq.write_table(table, path, row_group_size=2)
    with open_reader(path) as reader:
        reader.batch_rows = 2
        assert reader.columns == ["tweet_id", "text"]
        records, problems = items(reader)
    assert problems == []
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert records[0].values == {"tweet_id": 570306133677760513, "text": "a"}


@pytest.mark.parametrize("content", [b"PAR1 this is not parquet PAR1", b""])
def test_corrupt_parquet(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "a.parquet", content)
    with pytest.raises(InputError, match="not a readable Parquet file") as caught:
        open_reader(path)
    assert caught.value.file == str(path) and caught.value.line is None


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": ["x" * 100] * 1000}), good)
    path = write(tmp_path / "a.parquet", good.read_bytes()[:-100])
    with pytest.raises(InputError, match="not a readable Parquet file"):
        open_reader(path)


def test_excel_keeps_types_skips_empty_rows_and_numbers_rows_like_the_sheet(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = Workbook()
    book.active.title = "first"
    sheet = book.create_sheet("incidents")
    sheet.append(["id", "text", "when", None])
    sheet.append([7, "a", datetime(2019, 10, 23, 8, 30)])
    sheet.append([])
    sheet.append([8.5, "b", None])
    book["first"].append(["other", "sheet"])
    book.save(path)
    with open_reader(path, sheet="incidents") as reader:
        assert reader.columns == ["id", "text", "when"]
        records, problems = items(reader)
    assert problems == []
    assert [(r.line, r.values) for r in records] == [
        (2, {"id": 7, "text": "a", "when": datetime(2019, 10, 23, 8, 30)}),
        (4, {"id": 8.5, "text": "b", "when": None}),
    ]
    with open_reader(path) as reader:
        assert reader.columns == ["other", "sheet"]


def test_excel_extra_cells_beyond_the_header(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = Workbook()
    book.active.append(["id", "text"])
    book.active.append([1, "a", None, "stray"])
    book.save(path)
    records, problems = read(path)
    assert records == [] and problems == [RecordProblem(str(path), 2, None, "expected 2 fields, found 4")]


def test_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    book = Workbook()
    book.active.title = "Responses"
    book.create_sheet("Notes")
    book.save(path)
    with pytest.raises(InputError) as caught:
        open_reader(path, sheet="Data")
    assert caught.value.message == "no sheet named 'Data'; sheets are: Responses, Notes"


@pytest.mark.parametrize("content", [b"id,text\n1,not a workbook\n", b"PK\x03\x04 broken zip"])
def test_corrupt_xlsx(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "a.xlsx", content)
    with pytest.raises(InputError, match=r"not a readable Excel \.xlsx file") as caught:
        open_reader(path)
    assert caught.value.file == str(path)


# --------------------------------------------------------------------------------------------
# Text folders


def test_text_folder_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    write_text = {
        "b.txt": "second",
        "a/z.txt": "\ufefffirst",
        "c.TXT": "third",
        ".hidden.txt": "x",
        "d.md": "x",
    }
    for name, text in write_text.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    with open_reader(tmp_path) as reader:
        assert (reader.format, reader.columns) == ("folder", ["id", "text", "filename"])
        records, problems = items(reader)
    assert problems == []
    assert [r.values for r in records] == [
        {"id": "a/z", "text": "first", "filename": "a/z.txt"},
        {"id": "b", "text": "second", "filename": "b.txt"},
        {"id": "c", "text": "third", "filename": "c.TXT"},
    ]
    assert records[0].file == str(tmp_path / "a" / "z.txt")


def test_text_folder_decode_error_names_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "fine")
    bad = write(tmp_path / "bad.txt", b"line one\nline two caf\xe9\n")
    records, problems = read(tmp_path)
    assert [r.values["id"] for r in records] == ["good"]
    assert problems == [
        RecordProblem(
            str(bad),
            2,
            None,
            "not valid UTF-8 (byte 0xe9 at column 13); re-save the file as UTF-8 or pass --encoding",
        )
    ]


def test_empty_folder(tmp_path: Path) -> None:
    write(tmp_path / "notes.md", "not a txt")
    with pytest.raises(InputError, match=r"no \.txt files"):
        open_reader(tmp_path)


# --------------------------------------------------------------------------------------------
# Format detection


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.xlsx", "xlsx"),
        ("a.xlsm", "xlsx"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_detect_format_folder(tmp_path: Path) -> None:
    assert detect_format(tmp_path) == "folder"


@pytest.mark.parametrize(("name", "start"), [("a.docx", "unknown file type '.docx'"), ("a.xls", "old-style Excel")])
def test_unknown_extension_lists_supported_formats(name: str, start: str) -> None:
    with pytest.raises(InputError) as caught:
        detect_format(name)
    assert caught.value.file == name
    assert caught.value.message.startswith(start)
    assert "supported: .csv, .tsv" in caught.value.message and "folder" in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        open_reader(tmp_path / "nope.csv")
    assert caught.value.message == "no such file"


def test_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "export.txt", "id;text\n1;a\n")
    records, _ = read(path, format="csv")
    assert records[0].values == {"id": "1", "text": "a"}


# --------------------------------------------------------------------------------------------
# Streaming


def test_csv_reading_is_streaming(tmp_path: Path) -> None:
    """A 20 MB file is read with a peak far below its size: nothing loads the whole file.

    Long rows keep the row count (and so the test time under tracemalloc) low.
    """
    path = tmp_path / "big.csv"
    text = "a customer wrote about a late delivery, twice, and nobody answered. " * 15
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,text,score\n")
        handle.writelines(f'{i},"{text}#{i}",{i % 5}\n' for i in range(20_000))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with open_reader(path) as reader:
            last = None
            for last in reader:  # noqa: B007 - only the last record is checked
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(last, RawRecord) and last.values["id"] == "19999"
    assert last.line == 20_001
    assert size > 20_000_000
    assert peak < size / 40, f"peak {peak:,} bytes for a {size:,}-byte file"
