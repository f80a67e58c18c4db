"""Read a ``.qdpx`` archive into a :class:`RefiProject`, tolerating the known vendor variants.

Accepted variants (seen in MAXQDA, NVivo, ATLAS.ti and QualCoder files): the 1.0 namespace,
the draft ``0:4`` one or none; ``sources/`` or ``Sources/``; GUIDs in braces or upper case;
missing ``isCodable``; text inline (``PlainTextContent``) or in the archive; selections without
codings; Windows line endings counted either way (see ``text``). Anything with no covalue
counterpart is listed in ``RefiProject.dropped`` rather than failing the import; only a broken
or hostile file raises (an :class:`~covalue.errors.InputError`).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from covalue.errors import InputError
from covalue.interchange.refi.codebook import read_codes
from covalue.interchange.refi.model import (
    RefiCase,
    RefiCoding,
    RefiProject,
    RefiSelection,
    RefiSource,
    RefiUser,
    RefiVariable,
)
from covalue.interchange.refi.safety import DEFAULT_LIMITS, Limits, SafeArchive, check_member_name, parse_xml
from covalue.interchange.refi.text import LineEndings, counting_rule, place_selections
from covalue.interchange.refi.xmlutil import (
    KNOWN_NAMESPACES,
    child_text,
    normalise_guid,
    parse_datetime,
    strip_namespaces,
    substitute_guid,
)

_OTHER_SOURCES = {
    "PDFSource": "PDF",
    "PictureSource": "picture",
    "AudioSource": "audio",
    "VideoSource": "video",
}
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")


class _Context:
    """The archive being read and the tallies of what was skipped, for one import."""

    def __init__(self, archive: SafeArchive, project: RefiProject) -> None:
        self.archive = archive
        self.file = archive.file
        self.project = project
        self.skipped: Counter[str] = Counter()

    def guid(self, raw: str | None, what: str) -> str:
        """The normalised GUID; a stable stand-in (counted) for ids that are not GUIDs."""
        guid = normalise_guid(raw)
        if guid is not None:
            return guid
        if not raw:
            raise InputError(self.file, f"a {what} has no guid attribute")
        self.skipped["ids that were not GUIDs (replaced by stable GUIDs)"] += 1
        return substitute_guid(raw)

    def ref(self, raw: str | None) -> str | None:
        return None if raw is None else (normalise_guid(raw) or substitute_guid(raw))


def read_qdpx(path: str | Path, limits: Limits = DEFAULT_LIMITS, line_endings: LineEndings = "auto") -> RefiProject:
    """Read a REFI-QDA project archive safely and completely (texts loaded, positions normalised)."""
    with SafeArchive(Path(path), limits) as archive:
        root = _project_root(archive)
        project = RefiProject(name=root.get("name") or Path(path).stem, origin=root.get("origin"))
        project.namespace = strip_namespaces(root)
        if project.namespace not in KNOWN_NAMESPACES["project"]:
            project.notes.append(f"unknown namespace {project.namespace!r}; read as REFI-QDA 1.0")
        context = _Context(archive, project)
        project.creating_user = context.ref(root.get("creatingUserGUID"))
        _read_sections(root, context)
    rule = counting_rule(line_endings, project.origin)
    windows = sum(place_selections(source, rule, project.dropped) for source in project.sources)
    if windows:
        counted = "one character (converted)" if rule == "collapsed" else "two characters"
        project.notes.append(
            f"{windows} source(s) have Windows line endings, kept as they are; "
            f"the file's positions were read with \\r\\n counted as {counted}"
        )
    return project


def _project_root(archive: SafeArchive) -> Element:
    name = archive.find("project.qde")
    if name is None:
        candidates = [n for n in archive.names() if n.lower().endswith(".qde") and "/" not in n]
        if len(candidates) != 1:
            raise InputError(archive.file, "no project.qde in the archive, so not a REFI-QDA project")
        name = candidates[0]
    root = parse_xml(archive.read(name, archive.limits.max_xml_bytes), f"{archive.file}!{name}")
    if root.tag.rsplit("}", 1)[-1] != "Project":
        raise InputError(archive.file, f"{name}: the root element is <{root.tag}>, not a REFI-QDA <Project>")
    return root


def _read_sections(root: Element, context: _Context) -> None:
    project = context.project
    project.users = [_user(e, context) for e in root.findall("Users/User")]
    codebook = root.find("CodeBook")
    project.codes = read_codes(None if codebook is None else codebook.find("Codes"), context.file, project.dropped)
    project.variables = [_variable(e, context) for e in root.findall("Variables/Variable")]
    project.cases = [_case(e, context) for e in root.findall("Cases/Case")]
    sources = root.find("Sources")
    for element in [] if sources is None else list(sources):
        if element.tag == "TextSource":
            source = _text_source(element, context)
            if source is not None:
                project.sources.append(source)
        else:
            context.skipped[f"{_OTHER_SOURCES.get(element.tag, element.tag)} source(s) (only text is imported)"] += 1
    _count_unmapped(root, context)
    project.dropped.extend(f"{n} {what}" for what, n in context.skipped.items())


def _count_unmapped(root: Element, context: _Context) -> None:
    for section, child, label in (
        ("Notes", "Note", "note(s)/memo(s)"),
        ("Links", "Link", "link(s)"),
        ("Sets", "Set", "set(s)"),
        ("Graphs", "Graph", "graph(s)"),
    ):
        count = len(root.findall(f"{section}/{child}"))
        if count:
            context.skipped[label] += count
    if (root.findtext("Description") or "").strip():
        context.skipped["project description (the target project keeps its own)"] += 1
    refs = len(root.findall("NoteRef")) + len(root.findall(".//Sources//NoteRef"))
    if refs:
        context.skipped["note reference(s) on the project, sources, selections or codings"] += refs


def _user(element: Element, context: _Context) -> RefiUser:
    guid = context.guid(element.get("guid"), "user")
    name = (element.get("name") or element.get("id") or "").strip() or f"user-{guid[:8]}"
    return RefiUser(guid=guid, name=name)


def _variable(element: Element, context: _Context) -> RefiVariable:
    return RefiVariable(
        guid=context.guid(element.get("guid"), "variable"),
        name=(element.get("name") or "").strip() or "variable",
        type=element.get("typeOfVariable") or "Text",
        description=child_text(element, "Description") or "",
    )


def _case(element: Element, context: _Context) -> RefiCase:
    case = RefiCase(guid=context.guid(element.get("guid"), "case"), name=element.get("name") or "")
    case.values = _values(element, context)
    case.source_guids = [g for e in element.findall("SourceRef") if (g := context.ref(e.get("targetGUID")))]
    if element.findall("SelectionRef"):
        context.skipped["case reference(s) to selections (cases are mapped per source)"] += len(
            element.findall("SelectionRef")
        )
    if element.findall("CodeRef"):
        context.skipped["code(s) applied to cases"] += len(element.findall("CodeRef"))
    return case


def _values(element: Element, context: _Context) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for entry in element.findall("VariableValue"):
        ref = entry.find("VariableRef")
        target = None if ref is None else context.ref(ref.get("targetGUID"))
        value = _typed_value(entry)
        if target is not None and value is not None:
            values[target] = value
    return values


def _typed_value(entry: Element) -> Any:
    for tag in _VALUE_TAGS:
        child = entry.find(tag)
        if child is None:
            continue
        text = (child.text or "").strip() if tag != "TextValue" else (child.text or "")
        if tag == "BooleanValue":
            return text.lower() in {"true", "1"}
        if tag == "IntegerValue":
            return _number(text, int)
        if tag == "FloatValue":
            return _number(text, float)
        return text
    return None


def _number(text: str, kind: type) -> Any:
    try:
        return kind(Decimal(text)) if kind is int else float(Decimal(text))
    except (InvalidOperation, ValueError):
        return text


def _text_source(element: Element, context: _Context) -> RefiSource | None:
    guid = context.guid(element.get("guid"), "text source")
    name = (element.get("name") or "").strip() or guid
    text = _source_text(element, name, context)
    if text is None:
        return None
    source = RefiSource(
        guid=guid,
        name=name,
        text=text,
        user_guid=context.ref(element.get("creatingUser")),
        created=parse_datetime(element.get("creationDateTime")),
    )
    source.selections = [_selection(e, context) for e in element.findall("PlainTextSelection")]
    source.codings = _codings(element, context)
    source.values = _values(element, context)
    return source


def _source_text(element: Element, name: str, context: _Context) -> str | None:
    inline = element.find("PlainTextContent")
    if inline is not None:
        return inline.text or ""
    path = element.get("plainTextPath")
    if not path:
        kind = "only rich text (.docx)" if element.get("richTextPath") else "no text"
        context.project.dropped.append(f"text source {name!r}: {kind}; not imported")
        return None
    if not path.startswith("internal://"):
        context.project.dropped.append(
            f"text source {name!r}: its text is outside the archive ({path}); not imported "
            "(covalue reads only files inside the .qdpx)"
        )
        return None
    inner = path.removeprefix("internal://")
    check_member_name(inner, context.file)
    member = context.archive.find(f"sources/{inner}") or context.archive.find(inner)
    if member is None:
        raise InputError(context.file, f"text source {name!r} names {path}, which is not in the archive")
    data = context.archive.read(member)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{context.file}!{member}", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _selection(element: Element, context: _Context) -> RefiSelection:
    guid = context.guid(element.get("guid"), "selection")
    try:
        start, end = int(element.get("startPosition", "")), int(element.get("endPosition", ""))
    except ValueError:
        raise InputError(context.file, f"selection {guid} has no integer startPosition/endPosition") from None
    description = child_text(element, "Description")
    selection = RefiSelection(
        guid=guid,
        start=start,
        end=end,
        user_guid=context.ref(element.get("creatingUser")),
        description=(description.strip() or None) if description is not None else None,
        codings=_codings(element, context),
    )
    if not selection.codings:
        what = "selection(s) without codings" + (" (their descriptions are not kept)" if description else "")
        context.skipped[what] += 1
    return selection


def _codings(element: Element, context: _Context) -> list[RefiCoding]:
    codings = []
    for entry in element.findall("Coding"):
        ref = entry.find("CodeRef")
        code_guid = None if ref is None else context.ref(ref.get("targetGUID"))
        if code_guid is None:
            context.skipped["coding(s) without a code reference"] += 1
            continue
        codings.append(
            RefiCoding(
                guid=context.guid(entry.get("guid"), "coding"),
                code_guid=code_guid,
                user_guid=context.ref(entry.get("creatingUser")),
                created=parse_datetime(entry.get("creationDateTime")),
            )
        )
    return codings
