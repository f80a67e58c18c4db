"""Import layer: stream records from files and map their columns onto incidents."""

from covalue.ingest.importer import ImportOptions, ImportReport, import_incidents
from covalue.ingest.labels import LabelImportReport, import_labels
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
    "ImportOptions",
    "ImportReport",
    "JsonlReader",
    "LabelImportReport",
    "ParquetReader",
    "RawRecord",
    "Reader",
    "RecordMapper",
    "RecordProblem",
    "TextFolderReader",
    "detect_format",
    "import_incidents",
    "import_labels",
    "open_reader",
    "parse_date",
]
