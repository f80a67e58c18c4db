"""Domain model: incidents, coders, codings and the annotation-guide label format."""

from covalue.model.incident import RELATIONSHIP_TYPES, Coder, Coding, Incident, Span
from covalue.model.labels import GUIDE_FIELDS, LabelRow, codings_to_rows, parse_label_value, row_to_codings

__all__ = [
    "GUIDE_FIELDS",
    "RELATIONSHIP_TYPES",
    "Coder",
    "Coding",
    "Incident",
    "LabelRow",
    "Span",
    "codings_to_rows",
    "parse_label_value",
    "row_to_codings",
]
