"""Import layer: stream records from files and map their columns onto incidents."""

from covalue.ingest.mapping import INCIDENT_FIELDS, ColumnMapping, RecordMapper, parse_date
from covalue.ingest.readers import (
    FORMATS,
    CsvReader,
    ExcelReader,
    JsonlReader,
    ParquetReader,
    RawRecord,
    Reader,
    RecordProblem,
    TextFolderReader,
    detect_format,
    open_reader,
)

__all__ = [
    "FORMATS",
    "INCIDENT_FIELDS",
    "ColumnMapping",
    "CsvReader",
    "ExcelReader",
    "JsonlReader",
    "ParquetReader",
    "RawRecord",
    "Reader",
    "RecordMapper",
    "RecordProblem",
    "TextFolderReader",
    "detect_format",
    "open_reader",
    "parse_date",
]
