"""REFI-QDA interchange: exchange codebooks (``.qdc``) and coded projects (``.qdpx``) with QDA software.

MAXQDA, NVivo, ATLAS.ti and QualCoder read and write the REFI-QDA 1.0 standard. covalue
exports what the standard can carry without loss (Gioia hierarchy as nested codes, definitions,
colours, incident texts, per-coder codings on whole incidents and spans, metadata as
variables) and lists the rest in the export report; it imports every vendor's variant,
refuses hostile files, and lists what it could not map in the import report.

    from covalue.interchange.refi import export_qdpx, import_qdpx
    report = export_qdpx(store, project, "study.qdpx")   # report.dropped: what REFI-QDA lost
    report = import_qdpx(store, other_project, "coded-in-maxqda.qdpx")
"""

from covalue.interchange.refi.codebook import write_qdc
from covalue.interchange.refi.export import export_qdc, export_qdpx
from covalue.interchange.refi.importer import import_qdc, import_qdpx, qdc_to_codebook
from covalue.interchange.refi.model import ExportReport, ImportReport
from covalue.interchange.refi.reader import read_qdpx
from covalue.interchange.refi.safety import Limits

__all__ = [
    "ExportReport",
    "ImportReport",
    "Limits",
    "export_qdc",
    "export_qdpx",
    "import_qdc",
    "import_qdpx",
    "qdc_to_codebook",
    "read_qdpx",
    "write_qdc",
]
