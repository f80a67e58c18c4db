"""Streaming readers for the file formats covalue imports.

A reader yields one item per input record: a :class:`RawRecord`, or a :class:`RecordProblem` when that
record cannot be read. Readers hold at most one record (one batch for Parquet) in memory, so a
multi-gigabyte export imports in the same memory as a small one, and one bad record never hides
the good ones after it. Problems name the file, the line and, where known, the column, because the
user fixes them in a text editor or a spreadsheet, not in a debugger.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from covalue.errors import InputError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "xlsx", "folder")

EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".jsonlines": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

_UNSUPPORTED_HINTS = {
    ".xls": "old-style Excel .xls files are not supported; re-save the sheet as .xlsx",
    ".txt": "a single .txt file is not supported; import the folder that holds your .txt files, "
    "or rename a delimited file to .csv or .tsv",
}

SNIFF_BYTES = 64 * 1024
SNIFF_DELIMITERS = ",;\t|"
PARQUET_BATCH_ROWS = 1024


@dataclass(frozen=True)
class RawRecord:
    """One input record before mapping: column name -> value, located by file and line.

    ``line`` is where the record starts: the text line for CSV/TSV/JSONL, the 1-based data row
    for Parquet, the sheet row for Excel (header = row 1), and 1 for a text-folder file.
    """

    file: str
    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class RecordProblem:
    """Why one record was skipped; becomes an :class:`InputError` when the caller must stop."""

    file: str
    line: int | None
    field: str | None
    message: str

    def to_error(self) -> InputError:
        return InputError(self.file, self.message, line=self.line, field=self.field)

    def __str__(self) -> str:
        return str(self.to_error())


@runtime_checkable
class Reader(Protocol):
    """What the importer needs from any input format."""

    path: Path
    format: str
    columns: list[str]

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


class _BaseReader(ABC):
    """Context-manager plumbing shared by the concrete readers."""

    path: Path
    format: str
    columns: list[str]

    @abstractmethod
    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        """Records in file order, or a problem in place of each record that cannot be read."""

    def close(self) -> None:  # noqa: B027 - a deliberate no-op default, not an abstract method
        """Release the open file; readers without one have nothing to do."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


# --------------------------------------------------------------------------------------------
# Format detection and the factory


def detect_format(path: str | Path) -> str:
    """Guess the format from the extension (or ``folder`` for a directory)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    supported = ", ".join(EXTENSIONS) + ", or a folder of .txt files"
    hint = _UNSUPPORTED_HINTS.get(suffix, f"unknown file type {suffix or '(no extension)'!r}")
    raise InputError(str(path), f"{hint}; supported: {supported}")


def open_reader(
    path: str | Path,
    format: str | None = None,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    sheet: str | None = None,
    max_field_chars: int = 1_000_000,
) -> Reader:
    """Open ``path`` with the reader for its format; ``format`` overrides the extension."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(str(path), f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if (fmt == "folder") != path.is_dir():
        expected = "a folder" if fmt == "folder" else "a file"
        raise InputError(str(path), f"format {fmt!r} needs {expected}")
    _check_encoding(path, encoding)
    if fmt in ("csv", "tsv"):
        delimiter = _check_delimiter(path, delimiter)
        if delimiter is None and fmt == "tsv":
            delimiter = "\t"
        return CsvReader(path, format=fmt, encoding=encoding, delimiter=delimiter, max_field_chars=max_field_chars)
    if fmt == "jsonl":
        return JsonlReader(path, encoding=encoding, max_field_chars=max_field_chars)
    if fmt == "parquet":
        return ParquetReader(path, max_field_chars=max_field_chars)
    if fmt == "xlsx":
        return ExcelReader(path, sheet=sheet)
    return TextFolderReader(path, encoding=encoding, max_field_chars=max_field_chars)


def _check_delimiter(path: Path, delimiter: str | None) -> str | None:
    """One character; ``\\t`` and ``tab`` are accepted because shells make a real tab awkward."""
    if delimiter is None:
        return None
    delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter.lower(), delimiter)
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise InputError(str(path), f"delimiter {delimiter!r} must be one character (not a quote or newline)")
    return delimiter


def _check_encoding(path: Path, encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise InputError(str(path), f"unknown encoding {encoding!r}") from exc


# --------------------------------------------------------------------------------------------
# Shared helpers: decoding line by line, header checks, field sizes


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _is_wide(encoding: str) -> bool:
    """UTF-16/32 cannot be split into lines on the byte ``\\n``; they need a streaming decoder."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _encoding_label(encoding: str) -> str:
    return "UTF-8" if _is_utf8(encoding) else encoding


def _encoding_from_bom(head: bytes, encoding: str) -> str:
    """A UTF-16/32 byte-order mark beats the UTF-8 default: Excel's "Unicode text" is UTF-16."""
    if not _is_utf8(encoding):
        return encoding
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return encoding


def _decode_problem(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    column = len(raw[: exc.start].decode(encoding, "replace")) + 1
    return (
        f"not valid {_encoding_label(encoding)} (byte 0x{raw[exc.start]:02x} at column {column}); "
        "re-save the file as UTF-8 or pass --encoding"
    )


NUL_MESSAGE = "contains a NUL character (byte 0x00); is this a UTF-16 or binary file? pass --encoding"


@dataclass(slots=True)
class _Line:
    """One physical line of text that could not be decoded cleanly, or any line (JSONL)."""

    number: int
    text: str
    problem: str | None = None
    fatal: bool = False


def _text_lines(fh: Any, encoding: str, bad: list[_Line]) -> Iterator[str]:
    """Decode a binary file one line at a time so that a bad byte names its exact line.

    Yields one string per physical line (what csv.reader wants) and appends undecodable lines
    to ``bad``; a line that cannot be decoded is still yielded, with replacement characters,
    so the CSV parser stays in step. A ``fatal`` entry ends the input.
    """
    if _is_wide(encoding):
        yield from _wide_lines(fh, encoding, bad)
        return
    utf8 = _is_utf8(encoding)
    codec = "utf-8" if utf8 else encoding
    for number, raw in enumerate(fh, start=1):
        if number == 1 and utf8:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            text = raw.decode(codec, "replace")
            bad.append(_Line(number, text, _decode_problem(raw, exc, encoding)))
        if "\0" in text:
            text = text.replace("\0", "")
            bad.append(_Line(number, text, NUL_MESSAGE))
        yield text


def _wide_lines(fh: Any, encoding: str, bad: list[_Line]) -> Iterator[str]:
    """Lines of a UTF-16/32 file via an incremental decoder; a decode error ends the input."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    number = 0
    pending = ""
    while True:
        block = fh.read(SNIFF_BYTES)
        try:
            pending += decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            message = f"not valid {encoding} ({exc.reason}); re-save the file as UTF-8 or pass --encoding"
            bad.append(_Line(number + pending.count("\n") + 1, "", message, fatal=True))
            return
        if "\n" in pending:
            *complete, pending = pending.split("\n")
            for text in complete:
                number += 1
                yield text + "\n"
        if not block:
            if pending:
                yield pending
            return


def _numbered_lines(fh: Any, encoding: str) -> Iterator[_Line]:
    """Every line with its number and decode problem, for line-oriented formats (JSONL)."""
    bad: list[_Line] = []
    for number, text in enumerate(_text_lines(fh, encoding, bad), start=1):
        yield bad.pop() if bad else _Line(number, text)
        bad.clear()
    yield from bad  # a fatal error that ended the input


def _check_header(file: str, names: list[str], line: int) -> list[str]:
    """Reject empty and duplicate column names: records are dicts keyed by them."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise InputError(file, f"column {position} of the header has no name", line=line)
        if name in seen:
            raise InputError(
                file,
                f"duplicate column name {name!r} in the header (columns {seen[name]} and {position})",
                line=line,
            )
        seen[name] = position
    return names


def field_too_long(length: int, limit: int) -> str:
    """The message for an over-long field, shared by all readers."""
    return f"field is {length:,} characters; the limit is {limit:,} (--max-field-chars)"


def _oversized_field(values: dict[str, Any], limit: int) -> tuple[str, int] | None:
    for name, value in values.items():
        if isinstance(value, str) and len(value) > limit:
            return name, len(value)
    return None


def _is_blank_row(cells: list[Any] | tuple[Any, ...]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


# --------------------------------------------------------------------------------------------
# CSV and TSV


class CsvReader(_BaseReader):
    """Delimited text, decoded line by line and parsed with :mod:`csv` in strict mode.

    Strict mode makes an unclosed quote an error at the end of the file instead of silently
    swallowing every following record into one field.
    """

    def __init__(
        self,
        path: Path,
        *,
        format: str = "csv",
        encoding: str = "utf-8",
        delimiter: str | None = None,
        max_field_chars: int = 1_000_000,
    ) -> None:
        self.path = path
        self.format = format
        self.max_field_chars = max_field_chars
        self._file = str(path)
        self._hard_limit = _raise_csv_field_limit(max_field_chars)
        self._fh = path.open("rb")
        try:
            head = self._fh.read(SNIFF_BYTES)
            self.encoding = _encoding_from_bom(head, encoding)
            self.delimiter = delimiter or _sniff_delimiter(head, self.encoding)
            self.columns = self._read_header()
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        rows = self._rows()
        next(rows)  # the header, already checked in __init__
        file, columns, width, limit = self._file, self.columns, len(self.columns), self.max_field_chars
        for item in rows:
            if isinstance(item, RecordProblem):
                yield item
                continue
            line, fields = item
            if len(fields) != width:
                yield RecordProblem(file, line, None, f"expected {width} fields, found {len(fields)}")
            elif max(map(len, fields)) > limit:
                name, length = _oversized_field(dict(zip(columns, fields, strict=True)), limit) or ("", 0)
                yield RecordProblem(file, line, name, field_too_long(length, limit))
            else:
                yield RawRecord(file, line, dict(zip(columns, fields, strict=True)))

    def _read_header(self) -> list[str]:
        first = next(self._rows(), None)
        if first is None:
            raise InputError(self._file, "the file is empty")
        if isinstance(first, RecordProblem):
            raise first.to_error()
        line, names = first
        self._header_line = line
        return _check_header(self._file, [name.strip() for name in names], line)

    def _rows(self) -> Iterator[tuple[int, list[str]] | RecordProblem]:
        """Non-blank records as (start line, fields); problems in place of unreadable ones."""
        self._fh.seek(0)
        bad: list[_Line] = []
        reader = csv.reader(_text_lines(self._fh, self.encoding, bad), delimiter=self.delimiter, strict=True)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                if bad:  # a fatal decode error ended the input
                    yield RecordProblem(self._file, bad[0].number, None, bad[0].problem or "")
                return
            except csv.Error as exc:
                yield self._fatal_problem(bad, exc, start, reader.line_num)
                return
            if bad:
                yield RecordProblem(self._file, bad[0].number, None, bad[0].problem or "")
                bad.clear()
            elif any(fields) and (len(fields) > 1 or fields[0].strip()):  # else a blank line
                yield start, fields

    def _fatal_problem(self, bad: list[_Line], exc: csv.Error, start: int, current: int) -> RecordProblem:
        """A csv.Error leaves the parser out of step with the quoting, so reading stops here."""
        if bad:
            return RecordProblem(self._file, bad[0].number, None, bad[0].problem or "")
        text = str(exc)
        if "unexpected end of data" in text:
            message = (
                'a quoted field in this record is never closed (the file ends inside it); look for a stray " character'
            )
        elif "field larger than field limit" in text:
            message = (
                f"a field is longer than {self._hard_limit:,} characters, probably because a quote is never closed"
            )
        else:
            where = f" at line {current}" if current != start else ""
            message = f"malformed CSV{where}: {text}"
        return RecordProblem(self._file, start, None, message + "; the rest of the file was not read")


def _raise_csv_field_limit(max_field_chars: int) -> int:
    """Let fields past ``max_field_chars`` through so we can report their size, but keep a cap.

    The cap bounds memory when a stray quote turns the rest of a file into one field.
    """
    limit = max(16 * max_field_chars, 64 * 1024 * 1024)
    limit = min(limit, sys.maxsize, 2**31 - 1)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)
    return csv.field_size_limit()


def _sniff_delimiter(head: bytes, encoding: str) -> str:
    """Pick the delimiter from the first ~64 KB; fall back to a comma.

    csv.Sniffer can be misled by punctuation inside long texts, so its guess must also occur in
    the header line; otherwise the candidate most frequent in the header wins.
    """
    if len(head) >= SNIFF_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines only
    sample = head.decode(encoding, "replace").lstrip("\ufeff")
    header = sample.split("\n", 1)[0]
    try:
        guess = csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        guess = None
    if guess is not None and guess in header:
        return guess
    counts = {candidate: header.count(candidate) for candidate in SNIFF_DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


# --------------------------------------------------------------------------------------------
# JSON Lines


class JsonlReader(_BaseReader):
    """One JSON object per line; ``columns`` are the keys of the first object."""

    format = "jsonl"

    def __init__(self, path: Path, *, encoding: str = "utf-8", max_field_chars: int = 1_000_000) -> None:
        self.path = path
        self.encoding = encoding
        self.max_field_chars = max_field_chars
        self._file = str(path)
        self._fh = path.open("rb")
        try:
            self.encoding = _encoding_from_bom(self._fh.read(4), encoding)
            self.columns = self._first_keys()
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    def _first_keys(self) -> list[str]:
        self._fh.seek(0)
        seen_any = False
        for line in _numbered_lines(self._fh, self.encoding):
            stripped = line.text.strip()
            if not stripped:
                continue
            if not seen_any and stripped.startswith("["):
                raise InputError(
                    self._file,
                    "this is a JSON array, not JSON Lines (one object per line); convert it first",
                    line=line.number,
                )
            seen_any = True
            if line.problem is None:
                item = self._parse(line)
                if isinstance(item, RawRecord):
                    return list(item.values)
        if not seen_any:
            raise InputError(self._file, "the file is empty")
        return []

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        self._fh.seek(0)
        for line in _numbered_lines(self._fh, self.encoding):
            if line.problem is not None:
                yield RecordProblem(self._file, line.number, None, line.problem)
                if line.fatal:
                    return
                continue
            if line.text.strip():
                yield self._parse(line)

    def _parse(self, line: _Line) -> RawRecord | RecordProblem:
        try:
            value = json.loads(line.text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} (column {exc.colno})"
            return RecordProblem(self._file, line.number, None, message)
        if not isinstance(value, dict):
            kind = type(value).__name__
            return RecordProblem(self._file, line.number, None, f"expected a JSON object, found {kind}")
        oversized = _oversized_field(value, self.max_field_chars)
        if oversized:
            name, length = oversized
            return RecordProblem(self._file, line.number, name, field_too_long(length, self.max_field_chars))
        return RawRecord(self._file, line.number, value)


# --------------------------------------------------------------------------------------------
# Parquet


class ParquetReader(_BaseReader):
    """Parquet read in record batches; ``line`` is the 1-based data row."""

    format = "parquet"

    def __init__(self, path: Path, *, max_field_chars: int = 1_000_000, batch_rows: int = PARQUET_BATCH_ROWS) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.max_field_chars = max_field_chars
        self.batch_rows = batch_rows
        self._file = str(path)
        self._errors = (pa.ArrowException, OSError)
        try:
            self._parquet = pq.ParquetFile(str(path))
        except self._errors as exc:
            raise InputError(self._file, f"not a readable Parquet file ({exc})") from exc
        self.columns = _check_header(self._file, list(self._parquet.schema_arrow.names), 1)

    def close(self) -> None:
        self._parquet.close()

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        row = 0
        batches = self._parquet.iter_batches(batch_size=self.batch_rows)
        while True:
            try:
                batch = next(batches, None)
            except self._errors as exc:
                yield RecordProblem(self._file, row + 1, None, f"cannot read the rest of the file ({exc})")
                return
            if batch is None:
                return
            for values in batch.to_pylist():
                row += 1
                yield self._record(row, values)

    def _record(self, row: int, values: dict[str, Any]) -> RawRecord | RecordProblem:
        oversized = _oversized_field(values, self.max_field_chars)
        if oversized:
            name, length = oversized
            return RecordProblem(self._file, row, name, field_too_long(length, self.max_field_chars))
        return RawRecord(self._file, row, values)


# --------------------------------------------------------------------------------------------
# Excel


class ExcelReader(_BaseReader):
    """An .xlsx sheet read row by row (openpyxl read-only mode); cells keep their Python types."""

    format = "xlsx"

    def __init__(self, path: Path, *, sheet: str | None = None) -> None:
        self.path = path
        self._file = str(path)
        self._workbook = _load_workbook(path)
        try:
            self._sheet = self._pick_sheet(sheet)
            self.sheet = self._sheet.title
            self.columns = self._read_header()
        except BaseException:
            self._workbook.close()
            raise

    def close(self) -> None:
        self._workbook.close()

    def _pick_sheet(self, name: str | None) -> Any:
        names = self._workbook.sheetnames
        if name is None:
            if not self._workbook.worksheets:
                raise InputError(self._file, "the workbook has no worksheets")
            return self._workbook.worksheets[0]
        if name not in names:
            raise InputError(self._file, f"no sheet named {name!r}; sheets are: {', '.join(names)}")
        return self._workbook[name]

    def _rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """Non-empty rows with their sheet row numbers (read-only mode pads skipped rows)."""
        for number, cells in enumerate(self._sheet.iter_rows(values_only=True), start=1):
            if not _is_blank_row(cells):
                yield number, cells

    def _read_header(self) -> list[str]:
        first = next(self._rows(), None)
        if first is None:
            raise InputError(self._file, f"sheet {self.sheet!r} is empty")
        self._header_line, cells = first
        names = [("" if cell is None else str(cell)).strip() for cell in cells]
        while names and not names[-1]:
            names.pop()
        return _check_header(self._file, names, self._header_line)

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        width = len(self.columns)
        for number, cells in self._rows():
            if number <= self._header_line:
                continue
            used = _used_width(cells)
            if used > width:
                yield RecordProblem(self._file, number, None, f"expected {width} fields, found {used}")
                continue
            padded = list(cells[:width]) + [None] * (width - len(cells))
            yield RawRecord(self._file, number, dict(zip(self.columns, padded, strict=True)))


def _load_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files (zip, XML, KeyError)
        raise InputError(str(path), f"not a readable Excel .xlsx file ({type(exc).__name__}: {exc})") from exc


def _used_width(cells: tuple[Any, ...]) -> int:
    """Number of cells up to the last non-empty one."""
    for index in range(len(cells) - 1, -1, -1):
        if not _is_blank_row((cells[index],)):
            return index + 1
    return 0


# --------------------------------------------------------------------------------------------
# A folder of text files


class TextFolderReader(_BaseReader):
    """Every ``*.txt`` file below a folder is one record, in sorted relative-path order.

    Hidden files and folders (names starting with ".") are skipped: they are editor and OS
    leftovers such as macOS ``._name.txt`` resource forks, not interview transcripts.
    """

    format = "folder"
    columns: list[str]

    def __init__(self, path: Path, *, encoding: str = "utf-8", max_field_chars: int = 1_000_000) -> None:
        self.path = path
        self.encoding = encoding
        self.max_field_chars = max_field_chars
        self.columns = ["id", "text", "filename"]
        self._files = _text_files(path)
        if not self._files:
            raise InputError(str(path), "the folder holds no .txt files")

    def __iter__(self) -> Iterator[RawRecord | RecordProblem]:
        for relative in self._files:
            yield self._read(relative)

    def _read(self, relative: str) -> RawRecord | RecordProblem:
        file_path = self.path / relative
        file = str(file_path)
        try:
            if file_path.stat().st_size > 4 * self.max_field_chars:  # skip reading a huge file
                return RecordProblem(file, 1, "text", f"file is larger than {self.max_field_chars:,} characters")
            raw = file_path.read_bytes()
        except OSError as exc:
            return RecordProblem(file, None, None, f"cannot read the file ({exc.strerror or exc})")
        text, problem = self._decode(file, raw)
        if problem is not None:
            return problem
        if len(text) > self.max_field_chars:
            return RecordProblem(file, 1, "text", field_too_long(len(text), self.max_field_chars))
        record_id = relative.removesuffix(Path(relative).suffix)
        return RawRecord(file, 1, {"id": record_id, "text": text, "filename": relative})

    def _decode(self, file: str, raw: bytes) -> tuple[str, RecordProblem | None]:
        encoding = _encoding_from_bom(raw[:4], self.encoding)
        if _is_utf8(encoding):
            raw = raw.removeprefix(codecs.BOM_UTF8)
            encoding = "utf-8"
        try:
            return raw.decode(encoding), None
        except UnicodeDecodeError as exc:
            return "", RecordProblem(file, *_locate_decode_error(raw, exc, encoding))


def _locate_decode_error(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> tuple[int, None, str]:
    """Line number, field and message for a decode error somewhere in a whole file's bytes."""
    start = raw.rfind(b"\n", 0, exc.start) + 1
    end = raw.find(b"\n", exc.start)
    line = raw[start:] if end < 0 else raw[start:end]
    shifted = UnicodeDecodeError(exc.encoding, line, exc.start - start, exc.end - start, exc.reason)
    return raw.count(b"\n", 0, exc.start) + 1, None, _decode_problem(line, shifted, encoding)


def _text_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the visible .txt files below ``folder``, sorted."""
    found = []
    for candidate in folder.rglob("*"):
        relative = candidate.relative_to(folder)
        if candidate.suffix.lower() != ".txt" or any(part.startswith(".") for part in relative.parts):
            continue
        if candidate.is_file():
            found.append(relative.as_posix())
    return sorted(found)
