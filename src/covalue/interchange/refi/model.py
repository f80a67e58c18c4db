"""The parts of a REFI-QDA document covalue reads, as plain data, plus the reports users see.

The reader fills these from any vendor's XML (GUIDs normalised, namespaces gone, text already
loaded); the importer maps them to covalue. Keeping this middle layer free of both XML and
the database is what makes each side testable alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class RefiCode:
    """A code of a REFI-QDA codebook; ``children`` make the hierarchy."""

    guid: str
    name: str
    codable: bool = True
    color: str | None = None
    description: str = ""
    children: list[RefiCode] = field(default_factory=list)

    def walk(self) -> list[RefiCode]:
        """This code and all its descendants, depth-first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


@dataclass(frozen=True)
class RefiUser:
    guid: str
    name: str


@dataclass(frozen=True)
class RefiVariable:
    guid: str
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class RefiCoding:
    guid: str
    code_guid: str
    user_guid: str | None
    created: datetime | None = None


@dataclass
class RefiSelection:
    """A stretch of a text source ``[start, end)`` in code points, with the codings on it."""

    guid: str
    start: int
    end: int
    user_guid: str | None = None
    description: str | None = None
    codings: list[RefiCoding] = field(default_factory=list)


@dataclass
class RefiSource:
    """A text source: its text (from the archive or inline), selections, source-level codings."""

    guid: str
    name: str
    text: str
    user_guid: str | None = None
    created: datetime | None = None
    selections: list[RefiSelection] = field(default_factory=list)
    codings: list[RefiCoding] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # variable GUID → value


@dataclass
class RefiCase:
    guid: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)  # variable GUID → value
    source_guids: list[str] = field(default_factory=list)


@dataclass
class RefiProject:
    """Everything of a ``project.qde`` that covalue can use, plus what it could not."""

    name: str
    origin: str | None = None
    namespace: str = ""
    creating_user: str | None = None
    users: list[RefiUser] = field(default_factory=list)
    codes: list[RefiCode] = field(default_factory=list)
    variables: list[RefiVariable] = field(default_factory=list)
    cases: list[RefiCase] = field(default_factory=list)
    sources: list[RefiSource] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ExportReport:
    """What an export wrote, and what the REFI-QDA format could not carry (``dropped``)."""

    path: Path
    format: str
    codebook: str
    incidents: int = 0
    codes: int = 0
    coders: int = 0
    codings: int = 0
    dropped: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import added to the project, and everything in the file it could not map."""

    file: str
    format: str
    codebook: str = ""
    codebook_origin: str = ""  # how the codebook was found: matched, bundled or rebuilt
    incidents_added: int = 0
    incidents_matched: int = 0
    codes: int = 0
    coders: list[str] = field(default_factory=list)
    codings_added: int = 0
    codings_already_present: int = 0
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    yaml_path: Path | None = None
    seconds: float = 0.0
