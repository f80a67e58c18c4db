"""Column detection and record mapping, on the real data sets and on every kind of bad value."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from covalue.errors import InputError
from covalue.ingest.mapping import ColumnMapping, RecordMapper, parse_date
from covalue.ingest.readers import RawRecord, RecordProblem, open_reader
from covalue.model.incident import Incident

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAW = DATA / "raw"
needs_data = pytest.mark.skipif(not (DATA / "dev_items.csv").is_file(), reason=f"shared data not found at {DATA}")

FILE = "incidents.csv"


def mapper(columns: list[str], **options: Any) -> RecordMapper:
    max_text_chars = options.pop("max_text_chars", 100_000)
    day_first = options.pop("day_first", False)
    return RecordMapper(
        ColumnMapping.detect(columns, FILE, **options), max_text_chars=max_text_chars, day_first=day_first
    )


def map_one(values: dict[str, Any], line: int = 7, **options: Any) -> Incident | RecordProblem:
    return mapper(list(values), **options).map(RawRecord(FILE, line, values))


def problem(values: dict[str, Any], **options: Any) -> tuple[str | None, str]:
    result = map_one(values, **options)
    assert isinstance(result, RecordProblem), result
    assert (result.file, result.line) == (FILE, 7)
    return result.field, result.message


def incident(values: dict[str, Any], **options: Any) -> Incident:
    result = map_one(values, **options)
    assert isinstance(result, Incident), result
    return result


def mapped_all(path: Path, limit: int | None = None, **overrides: Any) -> tuple[ColumnMapping, list[Any]]:
    with open_reader(path) as reader:
        mapping = ColumnMapping.detect(reader.columns, str(path), **overrides)
        record_mapper = RecordMapper(mapping)
        results = []
        for item in reader:
            assert isinstance(item, RawRecord), item
            results.append(record_mapper.map(item))
            if limit is not None and len(results) == limit:
                break
    return mapping, results


# --------------------------------------------------------------------------------------------
# Detection on the real headers


REAL_HEADERS = {
    "dev_items.csv": {"text": "text", "id": "item_id", "source": "source"},
    "raw/cfpb_consumer_complaints/complaints_sample.csv": {
        "text": "Consumer complaint narrative",
        "id": "Complaint ID",
        "channel": "Submitted via",
        "date": "Date received",
    },
    "raw/twitter_airline_sentiment/tweets.csv": {"text": "text", "id": "tweet_id", "date": "tweet_created"},
    "raw/customer_support_on_twitter/twcs_first5000.csv": {
        "text": "text",
        "id": "tweet_id",
        "date": "created_at",
        "customer_id": "author_id",
    },
    "raw/nhs_patient_feedback/care_opinion_stories.csv": {"text": "feedback", "id": "row_index"},
    "raw/nhs_patient_feedback/fft_comments_v6framework.csv": {
        "text": "FFT answer",
        "id": "Comment ID",
        "date": "Date",
        "customer_id": "Respondent ID",
    },
}


@needs_data
@pytest.mark.parametrize(("name", "expected"), REAL_HEADERS.items(), ids=lambda v: str(v).split("/")[-1])
def test_detect_on_real_headers(name: str, expected: dict[str, str]) -> None:
    with open_reader(DATA / name) as reader:
        assert ColumnMapping.detect(reader.columns, name).columns == expected


@needs_data
def test_hotel_reviews_have_no_text_column_until_named() -> None:
    path = RAW / "booking_hotel_reviews_europe" / "hotel_reviews_britannia_canary_wharf.csv"
    with open_reader(path) as reader, pytest.raises(InputError) as caught:
        ColumnMapping.detect(reader.columns, str(path))
    assert (caught.value.line, caught.value.field) == (1, "text")
    assert caught.value.message.startswith("no text column found among: Hotel_Address, ")
    assert caught.value.message.endswith("; name it with --text-column")
    mapping, results = mapped_all(path, limit=50, text="Negative_Review")
    assert mapping.columns == {"text": "Negative_Review", "date": "Review_Date"}
    first = results[0]
    assert isinstance(first, Incident)
    assert first.external_id == f"{path.stem}:2"
    assert first.occurred_at == datetime(2017, 8, 3)  # 8/3/2017 is US month/day
    assert first.metadata["Reviewer_Score"] == "7.9" and "Negative_Review" not in first.metadata


def test_override_naming_a_missing_column() -> None:
    with pytest.raises(InputError) as caught:
        ColumnMapping.detect(["id", "body"], FILE, text="narrative")
    error = caught.value
    assert (error.file, error.line, error.field) == (FILE, 1, "text")
    assert error.message == "column 'narrative' not found; columns are: id, body"


def test_override_wins_and_is_not_mapped_twice() -> None:
    mapping = ColumnMapping.detect(["id", "text", "comment", "Customer"], FILE, text="comment", id="text")
    assert mapping.columns == {"text": "comment", "id": "text", "customer_id": "Customer"}


def test_override_matches_loosely_when_unambiguous() -> None:
    assert ColumnMapping.detect(["Body Text"], FILE, text="body_text").text == "Body Text"


def test_exact_names_beat_loose_ones() -> None:
    assert ColumnMapping.detect(["TEXT", "text"], FILE).text == "text"
    assert ColumnMapping.detect(["Item-ID", "body"], FILE).columns == {"text": "body", "id": "Item-ID"}


def test_no_text_column() -> None:
    with pytest.raises(InputError) as caught:
        ColumnMapping.detect(["id", "score"], FILE)
    assert (caught.value.line, caught.value.field) == (1, "text")
    assert caught.value.message == "no text column found among: id, score; name it with --text-column"


def test_bad_constant_is_a_file_error() -> None:
    with pytest.raises(InputError) as caught:
        ColumnMapping.detect(["text"], FILE, constants={"relationship_type": "P2P"})
    assert caught.value.field == "relationship_type"
    assert "'P2P' is not one of B2C, B2B, B2G, G2C" in caught.value.message


def test_unknown_metadata_column() -> None:
    with pytest.raises(InputError) as caught:
        ColumnMapping.detect(["text", "score"], FILE, metadata=["scroe"])
    assert caught.value.field == "metadata"


# --------------------------------------------------------------------------------------------
# Mapping real records


@needs_data
def test_dev_items_map_completely_with_meta_lifted() -> None:
    path = DATA / "dev_items.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    _, results = mapped_all(path)
    assert all(isinstance(r, Incident) for r in results)
    assert [r.external_id for r in results] == [row["item_id"] for row in rows]
    assert [r.text for r in results] == [row["text"] for row in rows]
    by_id = {r.external_id: r for r in results}
    cfpb = by_id["cfpb-3416143"]
    assert (cfpb.source, cfpb.occurred_at) == ("cfpb", datetime(2019, 10, 23))
    assert cfpb.metadata["product"] == "Debt collection"
    assert "meta" not in cfpb.metadata and "date" not in cfpb.metadata
    nhs = [r for r in results if r.source == "nhs_care_opinion"]
    assert nhs and all(r.relationship_type == "G2C" for r in nhs)
    booking = [r for r in results if r.source == "booking"]
    for result, row in zip(booking, [row for row in rows if row["source"] == "booking"], strict=True):
        month, day, year = (int(part) for part in json.loads(row["meta"])["date"].split("/"))
        assert result.occurred_at == datetime(year, month, day)
    airline = next(r for r in results if r.source == "airline")
    assert airline.occurred_at is None and airline.metadata["created"].endswith("-0800")
    for result in results:
        json.dumps(result.metadata)


@needs_data
def test_tweets_keep_full_ids_and_convert_offsets_to_utc() -> None:
    _, results = mapped_all(RAW / "twitter_airline_sentiment" / "tweets.csv", limit=50)
    first = results[0]
    assert isinstance(first, Incident)
    assert first.external_id == "570306133677760513"
    assert first.occurred_at == datetime(2015, 2, 24, 19, 35, 52)  # 11:35:52 -0800
    assert first.metadata["airline"] == "Virgin America"
    assert "negativereason" not in first.metadata  # empty cells are left out


@needs_data
def test_twitter_support_dates_and_float_ids_from_parquet(tmp_path: Path) -> None:
    source = RAW / "customer_support_on_twitter" / "twcs_first5000.csv"
    _, results = mapped_all(source, limit=50)
    assert results[0].occurred_at == datetime(2017, 10, 31, 22, 10, 47)
    assert results[0].customer_id == "sprintcare"
    # The same rows through Parquet, with pandas-style numeric ids: ints and floats with ".0".
    with source.open(encoding="utf-8", newline="") as handle:
        rows = [row for _, row in zip(range(50), csv.DictReader(handle), strict=False)]
    table = pa.table(
        {
            "tweet_id": [int(r["tweet_id"]) for r in rows],
            "text": [r["text"] for r in rows],
            "thread_id": [float(r["in_response_to_tweet_id"] or "nan") for r in rows],
        }
    )
    path = tmp_path / "twcs.parquet"
    pq.write_table(table, path)
    _, parquet_results = mapped_all(path)
    assert [r.external_id for r in parquet_results] == [r["tweet_id"] for r in rows]
    assert parquet_results[0].thread_id == "3"
    assert [r.thread_id for r in parquet_results] == [
        r["in_response_to_tweet_id"].removesuffix(".0") or None for r in rows
    ]


@needs_data
def test_fft_day_first_dates_need_the_option() -> None:
    path = RAW / "nhs_patient_feedback" / "fft_comments_v6framework.csv"
    with open_reader(path) as reader:
        record = next(r for r in reader if isinstance(r, RawRecord) and r.values["Date"] == "30/09/2021")
        mapping = ColumnMapping.detect(reader.columns, str(path))
    result = RecordMapper(mapping).map(record)
    assert isinstance(result, RecordProblem) and result.field == "Date"
    assert result.message == (
        "cannot read date '30/09/2021'; use ISO 8601 (YYYY-MM-DD); "
        "it looks like day/month/year, which needs the day-first option"
    )
    result = RecordMapper(mapping, day_first=True).map(record)
    assert isinstance(result, Incident) and result.occurred_at == datetime(2021, 9, 30)


def test_text_folder_ids_are_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "site-a").mkdir()
    (tmp_path / "site-a" / "interview 1.txt").write_text("We waited four hours.", encoding="utf-8")
    _, results = mapped_all(tmp_path)
    assert results[0].external_id == "site-a/interview 1"
    assert results[0].metadata == {"filename": "site-a/interview 1.txt"}


# --------------------------------------------------------------------------------------------
# Bad values, each naming its field


@pytest.mark.parametrize("text", ["", "   \n ", None, math.nan])
def test_empty_text(text: Any) -> None:
    assert problem({"id": "1", "body": text}, text="body") == ("body", "empty text")


def test_text_too_long() -> None:
    assert problem({"id": "1", "text": "x" * 1001}, max_text_chars=1000) == (
        "text",
        "text is 1,001 characters; the limit is 1,000 (--max-text-chars)",
    )


def test_text_is_kept_exactly() -> None:
    assert incident({"id": "1", "text": "  spaced\r\n"}).text == "  spaced\r\n"


@pytest.mark.parametrize("value", ["", "  ", None, math.nan])
def test_empty_id(value: Any) -> None:
    assert problem({"id": value, "text": "a"}) == ("id", "empty id")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (570306133677760513, "570306133677760513"),
        (3.0, "3"),
        (2.5, "2.5"),
        (Decimal("42"), "42"),
        (" A-7 ", "A-7"),
        ("3.0", "3.0"),  # text stays as written
    ],
)
def test_ids_become_strings(value: Any, expected: str) -> None:
    assert incident({"id": value, "text": "a"}).external_id == expected


def test_missing_id_column_uses_file_and_line() -> None:
    result = map_one({"text": "a"}, line=12)
    assert isinstance(result, Incident) and result.external_id == "incidents:12"


def test_relationship_type() -> None:
    assert incident({"text": "a", "relationship": " b2b "}).relationship_type == "B2B"
    assert problem({"text": "a", "relationship": "P2P"}) == (
        "relationship",
        "relationship type 'P2P' is not one of B2C, B2B, B2G, G2C",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-10-23", datetime(2019, 10, 23)),
        ("2019-10-23T08:30:00", datetime(2019, 10, 23, 8, 30)),
        ("2019-10-23T08:30:00Z", datetime(2019, 10, 23, 8, 30)),
        ("2019-10-23T08:30:00+02:00", datetime(2019, 10, 23, 6, 30)),
        ("2019/10/23", datetime(2019, 10, 23)),
        ("2020/3/18", datetime(2020, 3, 18)),
        ("10/23/2019", datetime(2019, 10, 23)),
        ("8/3/2017", datetime(2017, 8, 3)),
        ("2015-02-24 11:35:52 -0800", datetime(2015, 2, 24, 19, 35, 52)),
        ("Tue Oct 31 22:10:47 +0000 2017", datetime(2017, 10, 31, 22, 10, 47)),
        (datetime(2019, 10, 23, 8, 30, tzinfo=timezone(timedelta(hours=-5))), datetime(2019, 10, 23, 13, 30)),
        (datetime(2019, 10, 23, 8, 30), datetime(2019, 10, 23, 8, 30)),
        (date(2019, 10, 23), datetime(2019, 10, 23)),
    ],
)
def test_dates(value: Any, expected: datetime) -> None:
    assert parse_date(value) == expected
    assert incident({"text": "a", "created_at": value}).occurred_at == expected


def test_day_first_dates() -> None:
    assert parse_date("03/04/2021", day_first=True) == datetime(2021, 4, 3)
    assert parse_date("03/04/2021") == datetime(2021, 3, 4)


@pytest.mark.parametrize("value", ["yesterday", "23.10.2019", "2019-13-01", "10/23/19", "13/13/2019"])
def test_bad_date(value: str) -> None:
    assert problem({"text": "a", "date": value}) == (
        "date",
        f"cannot read date {value!r}; use ISO 8601 (YYYY-MM-DD)",
    )


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (4, 4), (5.0, 5), (" 6 ", 6)])
def test_thread_position(value: Any, expected: int) -> None:
    assert incident({"text": "a", "turn": value}).thread_position == expected


@pytest.mark.parametrize("value", ["first", "2.5", 2.5, True])
def test_bad_thread_position(value: Any) -> None:
    field, message = problem({"text": "a", "turn": value})
    assert field == "turn" and message.endswith("is not a whole number")


# --------------------------------------------------------------------------------------------
# Metadata and constants


def test_metadata_is_json_compatible() -> None:
    values = {
        "text": "a",
        "score": 7.5,
        "missing": math.nan,
        "blank": " ",
        "none": None,
        "when": datetime(2020, 1, 2, 3, 4, tzinfo=UTC),
        "day": date(2020, 1, 2),
        "amount": Decimal("12.50"),
        "tags": ["x", None],
        "nested": {"a": 1, "b": None},
        "flag": False,
    }
    result = incident(values)
    assert result.metadata == {
        "score": 7.5,
        "when": "2020-01-02T03:04:00+00:00",
        "day": "2020-01-02",
        "amount": 12.5,
        "tags": ["x", None],
        "nested": {"a": 1},
        "flag": False,
    }
    json.dumps(result.metadata)


def test_explicit_metadata_list() -> None:
    result = incident({"text": "a", "score": "7", "secret": "x"}, metadata=["score"])
    assert result.metadata == {"score": "7"}


def test_meta_json_column() -> None:
    meta = json.dumps({"date": "2019/10/23", "channel": "web", "product": "Mortgage", "customer_id": 17})
    result = incident({"text": "a", "meta": meta})
    assert (result.occurred_at, result.channel, result.customer_id) == (datetime(2019, 10, 23), "web", "17")
    assert result.metadata == {"product": "Mortgage"}


def test_meta_json_does_not_override_a_mapped_column() -> None:
    meta = json.dumps({"date": "2019/10/23", "product": "Mortgage"})
    result = incident({"text": "a", "date": "2020-01-01", "meta": meta, "product": "Loan"})
    assert result.occurred_at == datetime(2020, 1, 1)
    assert result.metadata == {"date": "2019/10/23", "product": "Loan"}


def test_meta_json_bad_value_names_the_key() -> None:
    meta = json.dumps({"relationship_type": "P2P"})
    assert problem({"text": "a", "metadata": meta}) == (
        "metadata.relationship_type",
        "relationship type 'P2P' is not one of B2C, B2B, B2G, G2C",
    )


@pytest.mark.parametrize("meta", ['{"date": broken', "just words"])
def test_meta_that_is_not_a_json_object_stays_a_string(meta: str) -> None:
    result = incident({"text": "a", "meta": meta})
    assert result.metadata == {"meta": meta} and result.occurred_at is None


def test_constants_fill_fields_and_columns_win_when_not_empty() -> None:
    constants = {"source": "cfpb", "relationship_type": "b2c", "channel": "web", "date": "2020-01-01"}
    columns = ["text", "channel"]
    record_mapper = RecordMapper(ColumnMapping.detect(columns, FILE, constants=constants))
    filled = record_mapper.map(RawRecord(FILE, 2, {"text": "a", "channel": "phone"}))
    empty = record_mapper.map(RawRecord(FILE, 3, {"text": "b", "channel": ""}))
    assert isinstance(filled, Incident) and isinstance(empty, Incident)
    assert (filled.source, filled.relationship_type, filled.channel) == ("cfpb", "B2C", "phone")
    assert (empty.channel, empty.occurred_at) == ("web", datetime(2020, 1, 1))


def test_unknown_constant_field() -> None:
    with pytest.raises(ValueError, match="no constant allowed for text"):
        ColumnMapping(text="text", constants={"text": "x"})


def test_jsonl_records_with_varying_keys_keep_all_metadata(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [{"id": 1, "text": "a"}, {"id": 2, "text": "b", "rating": 4, "meta": {"channel": "app"}}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    _, results = mapped_all(path)
    assert [(r.external_id, r.channel, r.metadata) for r in results] == [
        ("1", None, {}),
        ("2", "app", {"rating": 4}),
    ]
