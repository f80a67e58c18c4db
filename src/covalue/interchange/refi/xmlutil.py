"""Small shared pieces of the REFI-QDA mapping: namespaces, GUIDs, dates, ids and covalue trailers.

*Trailers.* REFI-QDA has no slot for covalue's code ids, Gioia levels, dimension cardinality
or metadata encodings, and its schemas allow no extension elements. covalue therefore appends
one machine-readable line to the free-text ``Description`` it writes, e.g.
``[covalue] {"code": "R4.2", "level": "theme"}``. QDA programs show it as part of the
description and keep it when they re-export, which is what lets a project come back to covalue
with its code ids intact; files without trailers (every vendor's own) are mapped by name.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
#: Namespaces read as REFI-QDA 1.0: the standard's, the draft 0:4 one older ATLAS.ti and
#: QualCoder versions write, and none at all.
KNOWN_NAMESPACES = {
    "project": (PROJECT_NS, "urn:QDA-XML:project:0:4", "urn:QDA-XML:project:0.4", ""),
    "codebook": (CODEBOOK_NS, "urn:QDA-XML:codebook:0:4", "urn:QDA-XML:codebook:0.4", ""),
}

TRAILER_PREFIX = "[covalue] "
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_NOT_ID = re.compile(r"[^a-z0-9_.\-]+")


def strip_namespaces(root: Element) -> str:
    """Reduce every tag to its local name (in place); return the root's namespace ('' if none).

    Vendors disagree on the namespace (1.0, 0:4, none); after this the reader looks tags up
    by local name only.
    """
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return namespace


def normalise_guid(value: str | None) -> str | None:
    """Lower-case, brace-free GUID, or None when ``value`` is not a GUID."""
    if value is None:
        return None
    match = _GUID.match(value.strip())
    return match.group(1).lower() if match else None


def substitute_guid(value: str) -> str:
    """A valid, stable GUID standing in for a non-GUID id some tools write (``"17"``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"refi-qda-id:{value}"))


def format_datetime(moment: datetime) -> str:
    """xs:dateTime of a naive-UTC store timestamp (stored values, so exports are repeatable)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def parse_datetime(text: str | None) -> datetime | None:
    """A naive-UTC datetime from xs:dateTime / xs:date text; None for missing or unreadable."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def with_trailer(text: str | None, data: dict[str, Any]) -> str:
    """``text`` followed by a covalue trailer line holding ``data``."""
    line = TRAILER_PREFIX + json.dumps(data, ensure_ascii=False, sort_keys=True)
    return f"{text.rstrip()}\n\n{line}" if text and text.strip() else line


def split_trailer(text: str | None) -> tuple[str, dict[str, Any]]:
    """(description without the trailer, the trailer's data or {})."""
    if not text:
        return "", {}
    body, _, last = text.rstrip().rpartition("\n")
    if not last.startswith(TRAILER_PREFIX):
        return text.strip(), {}
    try:
        data = json.loads(last[len(TRAILER_PREFIX) :])
    except json.JSONDecodeError:
        return text.strip(), {}
    return (body.strip(), data) if isinstance(data, dict) else (text.strip(), {})


def slug(name: str, fallback: str = "code") -> str:
    """An id valid in a covalue codebook, made from a display name."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    value = _NOT_ID.sub("_", ascii_name.lower()).strip("_.-")
    return value or fallback


def unique(base: str, taken: set[str]) -> str:
    """``base`` or ``base_2``, ``base_3``, ... whichever is not in ``taken``; adds it to ``taken``."""
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def child_text(element: Element, tag: str) -> str | None:
    """Text of the first direct child ``tag`` ('' for an empty one, None when absent)."""
    child = element.find(tag)
    return None if child is None else (child.text or "")


def parse_bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"true", "1"}
