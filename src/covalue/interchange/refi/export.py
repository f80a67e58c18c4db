"""Export a covalue project as a REFI-QDA project (``.qdpx``) or its codebook as a ``.qdc``.

How covalue maps onto REFI-QDA:

* incidents → ``TextSource`` (GUID = the incident's stored GUID, name = its external id, text in
  ``sources/<guid>.txt`` referenced as ``internal://<guid>.txt``);
* coders → ``Users``; every ``Coding`` names its coder in ``creatingUser``, so double coding and
  reliability survive the exchange;
* **incident-level codings** (covalue's usual kind: the code applies to the whole incident) →
  one ``PlainTextSelection`` over the whole text ``[0, len)`` holding one ``Coding`` per coder
  and code. REFI-QDA has no "code the whole document" that every program reads, while all of
  them show a selection; on import a selection covering the whole text becomes an
  incident-level coding again;
* span codings → a ``PlainTextSelection`` at ``[start, end)`` (Unicode code points);
* a coding's memo → the ``Description`` of its selection (codings with different memos get
  different selections);
* incident fields and metadata → ``Variables`` and one ``Case`` per incident (see ``variables``).

What has no REFI-QDA slot — confidence, evidence spans, coding rounds, machine-coder details,
codebook indicators/examples/sources — is listed in :attr:`ExportReport.dropped`.
Everything is read in one transaction (a consistent snapshot) and written deterministically.
"""

from __future__ import annotations

import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

from sqlalchemy import Connection

from covalue.errors import CovalueError
from covalue.fileio import atomic_path
from covalue.framework.codebook import Codebook
from covalue.interchange.refi import validate as schemas
from covalue.interchange.refi.codebook import (
    ORIGIN,
    code_elements,
    codebook_guids,
    codebook_losses,
    parse_stored,
    write_qdc,
)
from covalue.interchange.refi.model import ExportReport
from covalue.interchange.refi.variables import VariablePlan, value_elements, variable_element
from covalue.interchange.refi.writer import LazySection, XmlWriter, zip_entry, zip_text_member
from covalue.interchange.refi.xmlutil import PROJECT_NS, format_datetime
from covalue.store import refi_io
from covalue.store.refi_io import CoderRecord, CodingRecord, IncidentRecord
from covalue.store.repository import ProjectInfo, Store


@dataclass
class _Export:
    """Everything the writers need, loaded once at the start of the export."""

    connection: Connection
    project: ProjectInfo
    codebook_pk: int | None
    codebook: Codebook | None
    guids: dict[tuple[str, str | None], str]
    coders: dict[int, CoderRecord]
    only_coder: int | None
    report: ExportReport
    counts: Counter[str] = field(default_factory=Counter)


def choose_codebook(store: Store, project: ProjectInfo, requested: str | None) -> tuple[int, Codebook] | None:
    """The codebook to export: the requested one, the only one, or the only one with codings."""
    keys = store.codebooks(project)
    if requested:
        matching = [pk for pk, key in keys if requested in (key, key.partition("@")[0])]
        if not matching:
            return store.codebook(project, requested)  # raises the store's "no codebook" error
        return _stored(store, max(matching))  # by id alone: the newest version
    if not keys:
        return None
    if len(keys) == 1:
        return _stored(store, keys[0][0])
    with store.connection() as connection:
        used = refi_io.codebooks_with_codings(connection, project)
    if len(used) == 1:
        return _stored(store, used[0])
    names = ", ".join(key for _, key in keys)
    raise CovalueError(f"project {project.name!r} has several codebooks ({names}); choose one with --codebook")


def _stored(store: Store, codebook_pk: int) -> tuple[int, Codebook]:
    """A stored codebook by row id, parsed once per process."""
    with store.connection() as connection:
        key, text = refi_io.codebook_source(connection, codebook_pk)
    return codebook_pk, parse_stored(text, key)


def export_qdpx(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    *,
    codebook: str | None = None,
    coder: str | None = None,
    validate: bool = False,
) -> ExportReport:
    """Write the project (incidents, one codebook, coders, codings) as a REFI-QDA ``.qdpx``."""
    target = Path(path)
    chosen = choose_codebook(store, project, codebook)
    report = ExportReport(path=target, format="qdpx", codebook=chosen[1].key if chosen else "")
    with store.connection() as connection:
        state = _load(connection, project, chosen, coder, report)
        with atomic_path(target, make_parents=True) as tmp:
            with zipfile.ZipFile(tmp, "w") as archive:
                _write_project(archive, state)
                _write_texts(archive, state)
            if validate:
                with zipfile.ZipFile(tmp) as archive:
                    schemas.validate_xml(archive.read("project.qde"), "project", f"{target}!project.qde")
        _finish_report(state, connection)
    return report


def export_qdc(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    *,
    codebook: str | None = None,
    validate: bool = False,
) -> ExportReport:
    """Write one of the project's codebooks as a REFI-QDA ``.qdc`` with the project's code GUIDs."""
    chosen = choose_codebook(store, project, codebook)
    if chosen is None:
        raise CovalueError(f"project {project.name!r} has no codebook to export")
    codebook_pk, book = chosen
    with store.connection() as connection:
        stored = refi_io.code_guids(connection, codebook_pk)
    target = Path(path)
    dropped = write_qdc(book, target, codebook_guids(book, project.guid, stored))
    if validate:
        schemas.validate_qdc(target)
    return ExportReport(
        path=target, format="qdc", codebook=book.key, codes=sum(1 for _ in book.all_codes()), dropped=dropped
    )


def _load(
    connection: Connection,
    project: ProjectInfo,
    chosen: tuple[int, Codebook] | None,
    coder: str | None,
    report: ExportReport,
) -> _Export:
    coders = {c.pk: c for c in refi_io.coder_records(connection, project)}
    only = None
    if coder is not None:
        only = next((pk for pk, c in coders.items() if c.name == coder), None)
        if only is None:
            raise CovalueError(f"project {project.name!r} has no coder {coder!r}")
        coders = {only: coders[only]}
    codebook_pk, book = chosen if chosen else (None, None)
    guids = {}
    if book is not None and codebook_pk is not None:
        guids = codebook_guids(book, project.guid, refi_io.code_guids(connection, codebook_pk))
        report.codes = sum(1 for _ in book.all_codes())
        report.dropped.extend(codebook_losses(book))
    report.coders = len(coders)
    return _Export(connection, project, codebook_pk, book, guids, coders, only, report)


# -- project.qde --------------------------------------------------------------------------------
def _write_project(archive: zipfile.ZipFile, state: _Export) -> None:
    with zip_text_member(archive, "project.qde") as stream:
        writer = XmlWriter(stream)
        writer.declaration()
        created = refi_io.project_created_at(state.connection, state.project)
        writer.open(
            "Project",
            {"xmlns": PROJECT_NS, "name": state.project.name, "origin": ORIGIN,
             "creationDateTime": format_datetime(created)},
        )  # fmt: skip
        if state.coders:
            writer.element(_users(state), 1)
        if state.codebook is not None:
            book = Element("CodeBook")
            SubElement(book, "Codes").extend(code_elements(state.codebook, state.guids))
            writer.element(book, 1)
        plan = _variable_plan(state)
        variables = plan.variables()
        if variables:
            section = Element("Variables")
            section.extend(variable_element(*v) for v in variables)
            writer.element(section, 1)
            _write_cases(writer, state, variables)
        _write_sources(writer, state)
        if state.project.description:
            description = Element("Description")
            description.text = state.project.description
            writer.element(description, 1)
        writer.close("Project")
    if writer.replaced:
        state.report.dropped.append(
            f"{writer.replaced} control character(s) in names, memos or metadata that XML cannot hold "
            "(written as U+FFFD)"
        )


def _users(state: _Export) -> Element:
    users = Element("Users")
    for coder in state.coders.values():
        SubElement(users, "User", {"guid": coder.guid, "name": coder.name})
    return users


def _variable_plan(state: _Export) -> VariablePlan:
    plan = VariablePlan(state.project.guid)
    for batch in refi_io.iter_incident_records(state.connection, state.project):
        for record in batch:
            plan.observe(record.incident)
    return plan


def _write_cases(writer: XmlWriter, state: _Export, variables: list) -> None:
    section = LazySection(writer, "Cases", 1)
    for batch in refi_io.iter_incident_records(state.connection, state.project):
        for record in batch:
            case = Element("Case", {"guid": _child_guid(record.guid, "case"), "name": record.incident.external_id})
            case.extend(value_elements(record.incident, variables))
            SubElement(case, "SourceRef", {"targetGUID": record.guid})
            section.add(case)
    section.finish()


def _write_sources(writer: XmlWriter, state: _Export) -> None:
    section = LazySection(writer, "Sources", 1)
    for batch, codings in _batches_with_codings(state):
        for record in batch:
            section.add(_text_source(record, codings.get(record.pk, []), state))
    section.finish()
    state.report.incidents = section.count


def _batches_with_codings(
    state: _Export,
) -> Iterator[tuple[list[IncidentRecord], dict[int, list[CodingRecord]]]]:
    for batch in refi_io.iter_incident_records(state.connection, state.project):
        grouped: dict[int, list[CodingRecord]] = {}
        if state.codebook_pk is not None:
            pks = [r.pk for r in batch]
            for coding in refi_io.codings_of_incidents(state.connection, state.codebook_pk, pks, state.only_coder):
                grouped.setdefault(coding.incident_pk, []).append(coding)
        yield batch, grouped


def _text_source(record: IncidentRecord, codings: list[CodingRecord], state: _Export) -> Element:
    source = Element(
        "TextSource",
        {
            "guid": record.guid,
            "name": record.incident.external_id,
            "plainTextPath": f"internal://{record.guid}.txt",
            "creationDateTime": format_datetime(record.created_at),
        },
    )
    length = len(record.incident.text)
    groups: dict[tuple[int, int, str], list[CodingRecord]] = {}
    for coding in codings:
        start, end = (0, length) if coding.start is None else (coding.start, coding.end or coding.start)
        if end <= start or end > length:
            state.counts["span outside the text"] += 1
            continue
        groups.setdefault((start, end, coding.memo or ""), []).append(coding)
    for (start, end, memo), members in sorted(groups.items(), key=lambda item: item[0]):
        selection = _selection(record.guid, start, end, memo, members, state)
        if len(selection.findall("Coding")):
            source.append(selection)
    return source


def _selection(
    incident_guid: str, start: int, end: int, memo: str, codings: list[CodingRecord], state: _Export
) -> Element:
    attributes = {
        "guid": _child_guid(incident_guid, f"selection:{start}-{end}:{memo}"),
        "startPosition": str(start),
        "endPosition": str(end),
    }
    coders = {c.coder_pk for c in codings}
    if len(coders) == 1:  # some programs read the coder from the selection, not the coding
        attributes["creatingUser"] = state.coders[next(iter(coders))].guid
    attributes["creationDateTime"] = format_datetime(min(c.created_at for c in codings))
    selection = Element("PlainTextSelection", attributes)
    if memo:
        SubElement(selection, "Description").text = memo
    for coding in codings:
        code_guid = state.guids.get((coding.dimension, coding.code_id))
        if code_guid is None:
            state.counts["code not in the codebook"] += 1
            continue
        element = SubElement(
            selection,
            "Coding",
            {"guid": coding.guid, "creatingUser": state.coders[coding.coder_pk].guid,
             "creationDateTime": format_datetime(coding.created_at)},
        )  # fmt: skip
        SubElement(element, "CodeRef", {"targetGUID": code_guid})
        _tally(coding, state)
    return selection


def _tally(coding: CodingRecord, state: _Export) -> None:
    state.report.codings += 1
    state.counts["confidence"] += coding.confidence is not None
    state.counts["evidence"] += bool(coding.evidence)
    state.counts["round"] += coding.round_id is not None


def _write_texts(archive: zipfile.ZipFile, state: _Export) -> None:
    for batch in refi_io.iter_incident_records(state.connection, state.project):
        for record in batch:
            archive.writestr(zip_entry(f"sources/{record.guid}.txt"), record.incident.text.encode("utf-8"))


def _child_guid(parent_guid: str, key: str) -> str:
    """A GUID derived from an incident's: stable across exports without storing it."""
    return str(uuid.uuid5(uuid.UUID(parent_guid), key))


# -- report -------------------------------------------------------------------------------------
_COUNT_NOTES = {
    "confidence": "{n} coding(s) had a confidence; REFI-QDA codings have none",
    "evidence": "{n} coding(s) had evidence spans; REFI-QDA has no slot for them",
    "round": "{n} coding(s) belonged to a coding round; REFI-QDA has no rounds",
    "span outside the text": "{n} span coding(s) lay outside their incident's text and were skipped",
    "code not in the codebook": "{n} coding(s) used a code missing from the codebook and were skipped",
}


def _finish_report(state: _Export, connection: Connection) -> None:
    report = state.report
    for key, template in _COUNT_NOTES.items():
        if state.counts[key]:
            report.dropped.append(template.format(n=state.counts[key]))
    machines = [c for c in state.coders.values() if c.kind != "human"]
    for coder in machines:
        detail = ", ".join(x for x in (coder.model, coder.version) if x)
        report.dropped.append(
            f"coder {coder.name!r} is a machine coder{f' ({detail})' if detail else ''}; "
            "REFI-QDA users have no kind, model or version"
        )
    others = {
        pk: n
        for pk, n in refi_io.coding_counts_by_codebook(connection, state.project).items()
        if pk != state.codebook_pk
    }
    if others:
        report.dropped.append(
            f"{sum(others.values())} coding(s) under other codebooks of the project (export each with --codebook)"
        )
