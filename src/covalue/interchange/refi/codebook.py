"""covalue codebooks as REFI-QDA codes, and ``.qdc`` files written and read.

The Gioia hierarchy maps onto nested codes: each covalue *dimension* becomes a top-level code
with ``isCodable="false"`` (a dimension is a coding question, never applied itself), its codes
nest below it as in the YAML, aggregates and themes that are pure groupings stay
``isCodable="false"``. Definitions go to ``Description``, colours to ``color``; code ids,
levels and dimension settings ride along in a covalue trailer line (see ``xmlutil``).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

from covalue import __version__
from covalue.errors import InputError
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook, FlatCode
from covalue.framework.loader import load_codebook, parse_codebook
from covalue.interchange.refi.model import RefiCode
from covalue.interchange.refi.safety import DEFAULT_LIMITS, Limits, parse_xml, read_small_file
from covalue.interchange.refi.writer import XmlWriter
from covalue.interchange.refi.xmlutil import (
    CODEBOOK_NS,
    KNOWN_NAMESPACES,
    child_text,
    normalise_guid,
    parse_bool,
    strip_namespaces,
    substitute_guid,
    with_trailer,
)

#: (dimension id, code id) → GUID; code id None stands for the dimension's own grouping code.
CodeGuids = Mapping[tuple[str, str | None], str]
ORIGIN = f"covalue {__version__}"
_RGB = re.compile(r"^#([A-Fa-f0-9]{6}|[A-Fa-f0-9]{3})$")


@functools.lru_cache(maxsize=16)
def parse_stored(text: str, label: str) -> Codebook:
    """A stored codebook's YAML, parsed once per process: parsing is slow and codebooks are immutable."""
    return parse_codebook(text, label)


@functools.lru_cache(maxsize=8)
def load_bundled(codebook_id: str) -> Codebook:
    """A codebook shipped with covalue, loaded once per process."""
    return load_codebook(codebook_id)


def codebook_guids(
    codebook: Codebook, namespace: str | None = None, stored: Mapping[tuple[str, str], str] | None = None
) -> dict[tuple[str, str | None], str]:
    """GUIDs for every dimension and code: stored ones first, else derived (stable) from ``namespace``.

    ``namespace`` is the project GUID when exporting a project, so the derivation matches the
    repository's (``derived_guid``); without a project a namespace is derived from the codebook key.
    """
    base = uuid.UUID(namespace) if namespace else uuid.uuid5(uuid.NAMESPACE_URL, f"covalue:{codebook.key}")
    stored = stored or {}
    guids: dict[tuple[str, str | None], str] = {}
    for dimension in codebook.dimensions:
        guids[(dimension.id, None)] = str(uuid.uuid5(base, f"dimension:{codebook.key}/{dimension.id}"))
    for flat in codebook.all_codes():
        key = (flat.dimension, flat.id)
        guids[key] = stored.get(key) or str(uuid.uuid5(base, f"code:{codebook.key}/{flat.dimension}/{flat.id}"))
    return guids


def code_elements(codebook: Codebook, guids: CodeGuids) -> list[Element]:
    """One top-level ``<Code>`` per dimension with the dimension's codes nested inside."""
    elements = []
    for dimension in codebook.dimensions:
        element = Element("Code", {"guid": guids[(dimension.id, None)], "name": dimension.name, "isCodable": "false"})
        trailer = {
            "dimension": dimension.id,
            "cardinality": dimension.cardinality,
            "required": dimension.required,
            "codebook": codebook.key,
        }
        SubElement(element, "Description").text = with_trailer(dimension.description, trailer)
        flat = {c.id: c for c in codebook.codes(dimension.id)}
        for code in flat.values():
            if code.parent is None:
                element.append(_code_element(code, flat, guids))
        elements.append(element)
    return elements


def _code_element(flat: FlatCode, codes: dict[str, FlatCode], guids: CodeGuids) -> Element:
    code = flat.code
    attributes = {
        "guid": guids[(flat.dimension, flat.id)],
        "name": code.name,
        "isCodable": "true" if code.codable else "false",
    }
    if code.colour:
        attributes["color"] = code.colour
    element = Element("Code", attributes)
    SubElement(element, "Description").text = with_trailer(code.definition, {"code": code.id, "level": code.level})
    for child in flat.children:
        element.append(_code_element(codes[child], codes, guids))
    return element


def codebook_losses(codebook: Codebook) -> list[str]:
    """Human-readable notes on the codebook content REFI-QDA has no place for."""
    fields = {
        "indicators": "indicators",
        "examples": "examples",
        "counter_examples": "counter-examples",
        "sources": "cited sources",
        "provenance": "provenance",
        "timing": "timing",
        "relationship_types": "relationship types",
        "note": "notes",
    }
    present = [label for name, label in fields.items() if any(getattr(c.code, name) for c in codebook.all_codes())]
    if any(d.required_when for d in codebook.dimensions):
        present.append("required-when rules")
    if codebook.spec.sources or codebook.spec.authors or codebook.spec.licence:
        present.append("the codebook's bibliography, authors and licence")
    if not present:
        return []
    return [
        f"codebook {codebook.key}: {', '.join(present)} have no REFI-QDA slot and are not in the file "
        "(definitions, names, colours, hierarchy and codability are; covalue finds the full codebook "
        "again on re-import by its key)"
    ]


def write_qdc(codebook: Codebook, path: str | Path, guids: CodeGuids | None = None) -> list[str]:
    """Write ``codebook`` as a REFI-QDA ``.qdc``; returns the notes on what was left out."""
    target = Path(path)
    guids = guids or codebook_guids(codebook)
    with atomic_path(target, make_parents=True) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as stream:
        writer = XmlWriter(stream)
        writer.declaration()
        writer.open("CodeBook", {"xmlns": CODEBOOK_NS, "origin": ORIGIN})
        writer.open("Codes", level=1)
        for element in code_elements(codebook, guids):
            writer.element(element, 2)
        writer.close("Codes", level=1)
        writer.close("CodeBook")
    return codebook_losses(codebook)


# -- reading ------------------------------------------------------------------------------------
def read_codes(parent: Element | None, file: str, dropped: list[str]) -> list[RefiCode]:
    """The ``<Code>`` children of ``parent`` (a ``<Codes>`` element) as a tree of RefiCode."""
    if parent is None:
        return []
    seen: set[str] = set()
    counters = {"noterefs": 0, "colours": 0, "guids": 0}
    codes = [_read_code(element, file, seen, counters) for element in parent.findall("Code")]
    if counters["noterefs"]:
        dropped.append(f"{counters['noterefs']} note reference(s) on codes (code memos are not imported)")
    if counters["colours"]:
        dropped.append(f"{counters['colours']} code colour(s) that are not #RGB/#RRGGBB")
    if counters["guids"]:
        dropped.append(f"{counters['guids']} code GUID(s) that are not GUIDs (replaced by stable GUIDs)")
    return codes


def _read_code(element: Element, file: str, seen: set[str], counters: dict[str, int]) -> RefiCode:
    raw_guid = element.get("guid") or element.get("name") or ""
    guid = normalise_guid(raw_guid)
    if guid is None:
        counters["guids"] += 1
        guid = substitute_guid(raw_guid)
    if guid in seen:
        raise InputError(file, f"two codes share the GUID {raw_guid!r}")
    seen.add(guid)
    colour = element.get("color")
    if colour is not None and not _RGB.match(colour.strip()):
        counters["colours"] += 1
        colour = None
    counters["noterefs"] += len(element.findall("NoteRef"))
    return RefiCode(
        guid=guid,
        name=(element.get("name") or "").strip() or "(unnamed)",
        codable=parse_bool(element.get("isCodable"), True),
        color=colour,
        description=child_text(element, "Description") or "",
        children=[_read_code(child, file, seen, counters) for child in element.findall("Code")],
    )


def read_qdc(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[list[RefiCode], str | None, list[str]]:
    """(codes, origin, dropped notes) of a ``.qdc`` file, read safely."""
    file = str(path)
    root = parse_xml(read_small_file(Path(path), limits.max_xml_bytes), file)
    namespace = strip_namespaces(root)
    if root.tag != "CodeBook":
        raise InputError(file, f"not a REFI-QDA codebook: the root element is <{root.tag}>, not <CodeBook>")
    dropped: list[str] = []
    if namespace not in KNOWN_NAMESPACES["codebook"]:
        dropped.append(f"unknown namespace {namespace!r}; read as REFI-QDA 1.0")
    codes = read_codes(root.find("Codes"), file, dropped)
    if not codes:
        raise InputError(file, "the codebook has no codes")
    sets = root.find("Sets")
    if sets is not None and len(sets):
        dropped.append(f"{len(sets)} code set(s) (covalue has no code sets)")
    return codes, root.get("origin"), dropped
