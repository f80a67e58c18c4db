"""The annotation-guide label format: one CSV row per incident, one column per dimension.

Multi-valued cells are ``;``-separated; an empty cell and ``none`` both mean "no value"
unless ``none`` is itself a code of that dimension (``wellbeing_decline`` has one).
Conversion to and from ``Coding`` objects lives here so that ingest, evaluation and
reliability all read and write the format the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from covalue.framework.codebook import Codebook
from covalue.model.incident import Coding

#: Columns of the annotation guide's CSV, in order (``note`` is optional and last).
GUIDE_FIELDS = (
    "valence",
    "reasons",
    "negative_factors",
    "positive_factors",
    "phase",
    "initiator",
    "wellbeing_decline",
    "coping",
    "resources_lost",
)
ID_COLUMN = "item_id"
NOTE_COLUMN = "note"
SEPARATOR = ";"
_EMPTY = {"", "none"}


@dataclass(frozen=True)
class LabelRow:
    """The codes one coder gave one incident, per dimension."""

    item_id: str
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    note: str | None = None


def parse_label_value(codebook: Codebook, dimension: str, raw: str | None) -> tuple[str, ...]:
    """Turn one cell into code ids, checking each against the codebook.

    Raises ValueError with a message fit for the user (the caller adds file/line/field).
    """
    parts = [p.strip() for p in (raw or "").split(SEPARATOR)]
    codes: list[str] = []
    for part in parts:
        if part.lower() in _EMPTY and not codebook.has_code(dimension, part):
            continue
        if not codebook.has_code(dimension, part):
            allowed = ", ".join(codebook.code_ids(dimension))
            raise ValueError(f"unknown code {part!r} (allowed: {allowed})")
        flat = codebook.code(dimension, part)
        if not flat.codable:
            children = ", ".join(flat.children) or "none"
            raise ValueError(f"{part!r} is a grouping, not a codable code; use one of its children ({children})")
        if part not in codes:
            codes.append(part)
    if len(codes) > 1 and not codebook.is_multi(dimension):
        raise ValueError(f"takes one value but got {len(codes)}: {SEPARATOR.join(codes)}")
    return tuple(codes)


def row_to_codings(row: LabelRow, coder: str, round_name: str | None = None) -> list[Coding]:
    """Incident-level codings for every code in the row."""
    return [
        Coding(incident_id=row.item_id, dimension=dimension, code_id=code, coder=coder, round=round_name)
        for dimension, codes in row.values.items()
        for code in codes
    ]


def codings_to_rows(codings: Iterable[Coding], dimensions: Iterable[str]) -> Iterator[LabelRow]:
    """Group incident-level codings into rows, keeping first-seen incident order."""
    wanted = list(dimensions)
    grouped: dict[str, dict[str, list[str]]] = {}
    for coding in codings:
        if coding.span is not None or coding.dimension not in wanted:
            continue
        cells = grouped.setdefault(coding.incident_id, {d: [] for d in wanted})
        if coding.code_id not in cells[coding.dimension]:
            cells[coding.dimension].append(coding.code_id)
    for item_id, cells in grouped.items():
        yield LabelRow(item_id=item_id, values={d: tuple(cells[d]) for d in wanted})


def format_label_value(codes: Iterable[str]) -> str:
    return SEPARATOR.join(codes)
