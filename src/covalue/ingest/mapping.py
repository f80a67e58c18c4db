"""Map the columns of an input file onto incident fields.

Real exports name their columns in many ways (``Consumer complaint narrative``, ``FFT answer``,
``tweet_id``), so :meth:`ColumnMapping.detect` guesses the usual names and lets the user name any
column explicitly. :class:`RecordMapper` then turns each :class:`RawRecord` into an
:class:`Incident`, or into a :class:`RecordProblem` that says which field of which line is wrong.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from covalue.errors import InputError
from covalue.ingest.readers import RawRecord, RecordProblem
from covalue.model.incident import RELATIONSHIP_TYPES, Incident

INCIDENT_FIELDS = (
    "text",
    "id",
    "source",
    "relationship_type",
    "channel",
    "date",
    "customer_id",
    "thread_id",
    "thread_position",
)

# Column names tried for each field, best first; matched after normalising (see _normalise).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": (
        "text", "body", "content", "narrative", "consumer complaint narrative", "complaint", "comment",
        "comments", "review", "feedback", "message", "description", "story", "fft answer", "transcript",
    ),
    "id": (
        "item_id", "id", "incident_id", "tweet_id", "complaint id", "comment id", "review_id", "ticket_id",
        "case_id", "row_index",
    ),
    "source": ("source",),
    "relationship_type": ("relationship_type", "relationship", "rel_type"),
    "channel": ("channel", "submitted via"),
    "date": (
        "date", "created_at", "date received", "review_date", "timestamp", "time", "datetime",
        "tweet_created", "created",
    ),
    "customer_id": ("customer_id", "customer", "author_id", "user_id", "respondent id"),
    "thread_id": ("thread_id", "conversation_id", "thread"),
    "thread_position": ("thread_position", "position", "turn"),
}  # fmt: skip

# Fields that may be filled from the keys of a JSON ``meta`` column when no column maps them.
META_COLUMNS = ("meta", "metadata")
LIFTABLE_FIELDS = ("date", "channel", "relationship_type", "customer_id", "thread_id")
CONSTANT_FIELDS = tuple(name for name in INCIDENT_FIELDS if name not in ("text", "id"))

# d/m/y with optional time: "10/23/2019", "2019/10/23", "8/3/2017 14:05"
SLASH_DATE = re.compile(r"(\d{1,4})/(\d{1,2})/(\d{1,4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
TWITTER_DATE_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # Tue Oct 31 22:10:47 +0000 2017


def _normalise(name: str) -> str:
    """Compare column names case-insensitively, ignoring spaces, underscores and hyphens."""
    return "".join(ch for ch in name.casefold() if ch not in " _-")


@dataclass
class ColumnMapping:
    """Which input column feeds which incident field; ``None`` leaves the field unmapped."""

    text: str | None = None
    id: str | None = None
    source: str | None = None
    relationship_type: str | None = None
    channel: str | None = None
    date: str | None = None
    customer_id: str | None = None
    thread_id: str | None = None
    thread_position: str | None = None
    metadata: list[str] | None = None  # None: every column not mapped above
    constants: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.constants) - set(CONSTANT_FIELDS))
        if unknown:
            raise ValueError(f"no constant allowed for {', '.join(unknown)}; use {', '.join(CONSTANT_FIELDS)}")

    @property
    def columns(self) -> dict[str, str]:
        """Mapped fields only: field name -> column name."""
        return {name: getattr(self, name) for name in INCIDENT_FIELDS if getattr(self, name) is not None}

    @classmethod
    def detect(
        cls,
        columns: list[str],
        file: str,
        *,
        metadata: list[str] | None = None,
        constants: dict[str, str] | None = None,
        **overrides: str | None,
    ) -> ColumnMapping:
        """Guess the mapping from the header; explicit ``overrides`` (field=column) win."""
        unknown = sorted(set(overrides) - set(INCIDENT_FIELDS))
        if unknown:
            raise TypeError(f"unknown incident field(s) {', '.join(unknown)}; use {', '.join(INCIDENT_FIELDS)}")
        chosen = {
            name: _resolve_column(column, columns, file, name)
            for name, column in overrides.items()
            if column is not None
        }
        used = set(chosen.values())
        for name in INCIDENT_FIELDS:
            if name not in chosen:
                column = _find_column(CANDIDATES[name], columns, used)
                if column is not None:
                    chosen[name] = column
                    used.add(column)
        if "text" not in chosen:
            raise InputError(
                file,
                f"no text column found among: {', '.join(columns)}; name it with --text-column",
                line=1,
                field="text",
            )
        if metadata is not None:
            metadata = [_resolve_column(column, columns, file, "metadata") for column in metadata]
        mapping = cls(**chosen, metadata=metadata, constants=dict(constants or {}))
        _check_constants(mapping.constants, file)
        return mapping


def _resolve_column(column: str, columns: list[str], file: str, name: str) -> str:
    """The header column the user named: exact, else the one column equal after normalising."""
    if column in columns:
        return column
    loose = [c for c in columns if _normalise(c) == _normalise(column)]
    if len(loose) == 1:
        return loose[0]
    raise InputError(file, f"column {column!r} not found; columns are: {', '.join(columns)}", line=1, field=name)


def _find_column(candidates: tuple[str, ...], columns: list[str], used: set[str]) -> str | None:
    """First unused column equal to a candidate, exact matches before normalised ones."""
    free = [c for c in columns if c not in used]
    for candidate in candidates:
        if candidate in free:
            return candidate
    for candidate in candidates:
        wanted = _normalise(candidate)
        for column in free:
            if _normalise(column) == wanted:
                return column
    return None


def _check_constants(constants: dict[str, str], file: str) -> None:
    try:
        _parse_constants(constants, day_first=False)
    except _FieldError as exc:
        raise InputError(file, f"constant value: {exc.message}", field=exc.field) from None


class _FieldError(Exception):
    """One field of one record is unusable; becomes a RecordProblem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --------------------------------------------------------------------------------------------
# Mapping records


class RecordMapper:
    """Turns raw records into incidents under one :class:`ColumnMapping`.

    ``day_first`` reads ``03/04/2021`` as 3 April (UK/EU exports) instead of the US March 4.
    """

    def __init__(self, mapping: ColumnMapping, *, max_text_chars: int = 100_000, day_first: bool = False) -> None:
        self.mapping = mapping
        self.max_text_chars = max_text_chars
        self.day_first = day_first
        self._columns = mapping.columns
        self._mapped = set(self._columns.values())
        try:
            self._constants = _parse_constants(mapping.constants, day_first=day_first)
        except _FieldError as exc:
            raise ValueError(f"constant {exc.field}: {exc.message}") from None

    def map(self, record: RawRecord) -> Incident | RecordProblem:
        """The incident for ``record``, or the first problem found in it."""
        try:
            metadata, lifted = self._metadata(record.values)
            text = self._text(record.values)
            external_id = self._external_id(record)
            optional = {name: self._optional(name, record.values, lifted) for name in CONSTANT_FIELDS}
        except _FieldError as exc:
            return RecordProblem(record.file, record.line, exc.field, exc.message)
        return Incident(
            external_id=external_id,
            text=text,
            source=optional["source"],
            relationship_type=optional["relationship_type"],
            channel=optional["channel"],
            occurred_at=optional["date"],
            customer_id=optional["customer_id"],
            thread_id=optional["thread_id"],
            thread_position=optional["thread_position"],
            metadata=metadata,
        )

    def _text(self, values: dict[str, Any]) -> str:
        column = self._columns["text"]
        value = values.get(column)
        text = "" if _is_empty(value) else value if isinstance(value, str) else _as_string(value)
        if not text.strip():
            raise _FieldError(column, "empty text")
        if len(text) > self.max_text_chars:
            raise _FieldError(
                column,
                f"text is {len(text):,} characters; the limit is {self.max_text_chars:,} (--max-text-chars)",
            )
        return text

    def _external_id(self, record: RawRecord) -> str:
        column = self._columns.get("id")
        if column is None:
            return f"{Path(record.file).stem}:{record.line}"
        value = record.values.get(column)
        if _is_empty(value):
            raise _FieldError(column, "empty id")
        return _as_string(value)

    def _optional(self, name: str, values: dict[str, Any], lifted: dict[str, tuple[str, Any]]) -> Any:
        """Column value if non-empty, else a value from the meta object, else the constant."""
        column = self._columns.get(name)
        if column is not None and not _is_empty(values.get(column)):
            return _convert(name, column, values[column], self.day_first)
        if name in lifted:
            label, value = lifted[name]
            return _convert(name, label, value, self.day_first)
        return self._constants.get(name)

    def _metadata(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[str, Any]]]:
        """JSON-compatible metadata, and meta-object values for fields that have no column."""
        names = self.mapping.metadata
        if names is None:
            names = [name for name in values if name not in self._mapped]
        metadata: dict[str, Any] = {}
        lifted: dict[str, tuple[str, Any]] = {}
        for name in names:
            value = values.get(name)
            embedded = _json_object(value) if name.casefold() in META_COLUMNS else None
            if embedded is None:
                if isinstance(value, str):  # the common case, kept fast: CSV cells are strings
                    if value and not value.isspace():
                        metadata[name] = value
                else:
                    _put(metadata, name, value)
                continue
            for key, inner in embedded.items():
                if key in LIFTABLE_FIELDS and key not in self._columns and not _is_empty(inner):
                    lifted.setdefault(key, (f"{name}.{key}", inner))
                elif key not in metadata:
                    _put(metadata, key, inner)
        return metadata, lifted


def _parse_constants(constants: dict[str, str], *, day_first: bool) -> dict[str, Any]:
    return {name: _convert(name, name, value, day_first) for name, value in constants.items() if not _is_empty(value)}


# --------------------------------------------------------------------------------------------
# Value conversion


def _convert(name: str, label: str, value: Any, day_first: bool) -> Any:
    """Check and convert a non-empty value for incident field ``name``; ``label`` names it in errors."""
    if name == "relationship_type":
        kind = _as_string(value).upper()
        if kind not in RELATIONSHIP_TYPES:
            allowed = ", ".join(RELATIONSHIP_TYPES)
            raise _FieldError(label, f"relationship type {_as_string(value)!r} is not one of {allowed}")
        return kind
    if name == "date":
        try:
            return parse_date(value, day_first=day_first)
        except ValueError as exc:
            raise _FieldError(label, str(exc)) from None
    if name == "thread_position":
        position = _as_int(value)
        if position is None:
            raise _FieldError(label, f"thread position {_as_string(value)!r} is not a whole number")
        return position
    return _as_string(value)


def _is_empty(value: Any) -> bool:
    """None, NaN (pandas' missing value) and blank strings all mean "no value"."""
    if value is None:
        return True
    if isinstance(value, float | Decimal):
        return value != value
    return isinstance(value, str) and not value.strip()


def _as_string(value: Any) -> str:
    """Ids and labels as text; integral numbers lose the ``.0`` that Parquet, Excel and JSON give them."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def parse_date(value: Any, *, day_first: bool = False) -> datetime:
    """A naive UTC datetime from a date object or one of the common text forms.

    Accepts ISO 8601 (with or without time, offset or ``Z``), ``2019/10/23``, US ``10/23/2019``
    (or day-first with ``day_first``), ``2015-02-24 11:35:52 -0800`` and Twitter's
    ``Tue Oct 31 22:10:47 +0000 2017``.
    """
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    parsed = _parse_date_text(text, day_first)
    if parsed is not None:
        return _naive_utc(parsed)
    message = f"cannot read date {text!r}; use ISO 8601 (YYYY-MM-DD)"
    if not day_first and _parse_date_text(text, True) is not None:
        message += "; it looks like day/month/year, which needs the day-first option"
    raise ValueError(message)


def _parse_date_text(text: str, day_first: bool) -> datetime | None:
    """Dispatch on the shape of the text: strptime is slow when tried blindly on every row."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    slash = SLASH_DATE.fullmatch(text)
    if slash:
        return _slash_date(slash, day_first)
    if text[:1].isalpha():
        try:
            return datetime.strptime(text, TWITTER_DATE_FORMAT)
        except ValueError:
            return None
    return None


def _slash_date(match: re.Match[str], day_first: bool) -> datetime | None:
    first, second, third = match.group(1, 2, 3)
    hour, minute, second_of_minute = (int(part or 0) for part in match.group(4, 5, 6))
    if len(first) == 4:
        year, month, day = int(first), int(second), int(third)
    elif len(third) == 4:
        year = int(third)
        month, day = (int(second), int(first)) if day_first else (int(first), int(second))
    else:
        return None
    try:
        return datetime(year, month, day, hour, minute, second_of_minute)
    except ValueError:
        return None


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# Metadata


def _json_object(value: Any) -> dict[str, Any] | None:
    """The object in a ``meta`` column (a dict, or a JSON object string), else None."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _put(metadata: dict[str, Any], key: str, value: Any) -> None:
    converted = _json_value(value)
    if converted is not None:
        metadata[str(key)] = converted


def _json_value(value: Any) -> Any:
    """A JSON-compatible copy of ``value``; None for values not worth keeping (empty, NaN)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, Decimal):
        integral = value.is_finite() and value == value.to_integral_value()
        return _json_value(int(value) if integral else float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        items = ((str(k), _json_value(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not None}
    if isinstance(value, list | tuple | set):
        return [_json_value(v) for v in value]
    return str(value)


__all__ = [
    "CANDIDATES",
    "INCIDENT_FIELDS",
    "ColumnMapping",
    "RecordMapper",
    "parse_date",
]
