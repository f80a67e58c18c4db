"""Import a REFI-QDA project (``.qdpx``) or codebook (``.qdc``) into a covalue project.

The whole file is read and checked before the database is touched, and everything is then
written in ONE transaction: a hostile, broken or conflicting file leaves the project exactly
as it was. The file's GUIDs are stored (incidents, coders, codes, codings), so a later export
gives QDA programs back the ids they know, and importing the same file twice adds nothing.

Mapping back (the inverse of ``export``): text sources → incidents (name → external id;
duplicate names get `` (2)``, ...); a selection covering the whole text → incident-level
codings, any other selection → span codings; codings directly on a source → incident-level;
the coder of a coding is its ``creatingUser``, else its selection's, its source's, the
project's, else ``default_coder``; a selection's ``Description`` → the memo of its codings.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from covalue.errors import InputError
from covalue.framework.codebook import Codebook
from covalue.interchange.refi.codebook import read_qdc
from covalue.interchange.refi.model import ImportReport, RefiCoding, RefiProject, RefiSource
from covalue.interchange.refi.reader import read_qdpx
from covalue.interchange.refi.resolve import (
    ResolvedCodebook,
    attach_rebuilt,
    convert_file_codes,
    naming_for,
    resolve_codebook,
)
from covalue.interchange.refi.safety import DEFAULT_LIMITS, Limits
from covalue.interchange.refi.text import LineEndings
from covalue.interchange.refi.variables import VariableMapper, incident_fields
from covalue.model.incident import Coder, Incident
from covalue.store import refi_io
from covalue.store.refi_io import NewCoding, NewIncident
from covalue.store.repository import ProjectInfo, Store

DEFAULT_CODER = "refi-import"
MAX_EXTERNAL_ID = 300


def import_qdpx(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    *,
    default_coder: str = DEFAULT_CODER,
    line_endings: LineEndings = "auto",
    limits: Limits = DEFAULT_LIMITS,
    yaml_out: str | Path | None = None,
) -> ImportReport:
    """Add a REFI-QDA project's sources, codebook, coders and codings to ``project``, all or nothing."""
    started = time.perf_counter()
    file = str(path)
    document = read_qdpx(path, limits, line_endings)
    report = ImportReport(file=file, format="qdpx", dropped=document.dropped, notes=document.notes)
    planned = _plan_incidents(document, report)
    used = {c.code_guid for source in document.sources for c, *_ in _placed_codings(source, None)}
    with store.connection() as connection:
        import_id = store.start_import(connection, project, file, "qdpx", "refi")
        resolved = _codebook(store, connection, project, document, used, report)
        coders = _coders(store, connection, project, document, default_coder, report)
        incidents = _incidents(connection, project, planned, import_id, report)
        _codings(connection, project, document, resolved, coders, incidents, report)
        problems = [{"file": file, "line": None, "field": None, "message": m} for m in report.dropped]
        store.finish_import(connection, import_id, report.incidents_added, 0, problems)
    if yaml_out is not None and resolved is not None:
        report.yaml_path = _write_yaml(resolved.codebook, yaml_out)
    report.seconds = time.perf_counter() - started
    return report


def import_qdc(
    store: Store,
    project: ProjectInfo,
    path: str | Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    yaml_out: str | Path | None = None,
) -> ImportReport:
    """Turn a ``.qdc`` into a covalue codebook and attach it to ``project`` (optionally also as YAML)."""
    started = time.perf_counter()
    codes, origin, dropped = read_qdc(path, limits)
    report = ImportReport(file=str(path), format="qdc", dropped=dropped)
    naming = naming_for(str(path), _title(path, origin), origin)
    converted = convert_file_codes(codes, set(), naming)
    report.notes.extend(converted.notes)
    with store.connection() as connection:
        resolved = attach_rebuilt(store, connection, project, converted, naming)
    _describe_codebook(resolved, report)
    if yaml_out is not None:
        report.yaml_path = _write_yaml(resolved.codebook, yaml_out)
    report.seconds = time.perf_counter() - started
    return report


def qdc_to_codebook(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Codebook, list[str]]:
    """Convert a ``.qdc`` to a covalue codebook without any project; returns (codebook, notes)."""
    codes, origin, dropped = read_qdc(path, limits)
    naming = naming_for(str(path), _title(path, origin), origin)
    converted = convert_file_codes(codes, set(), naming)
    return converted.codebook(naming.label, naming.header), dropped + converted.notes


def _title(path: str | Path, origin: str | None) -> str:
    return f"{Path(path).stem} (REFI-QDA codebook{f' from {origin}' if origin else ''})"


def _write_yaml(codebook: Codebook, target: str | Path) -> Path:
    out = Path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(codebook.source_text or "", encoding="utf-8")
    return out


# -- codebook and coders ----------------------------------------------------------------------
def _codebook(
    store: Store,
    connection: Connection,
    project: ProjectInfo,
    document: RefiProject,
    used: set[str],
    report: ImportReport,
) -> ResolvedCodebook | None:
    if not document.codes:
        if used:
            report.dropped.append(f"codings of {len(used)} code(s): the file has no codebook")
        return None
    naming = naming_for(report.file, document.name, document.origin)
    resolved = resolve_codebook(store, connection, project, document.codes, used, naming, report.notes)
    _describe_codebook(resolved, report)
    return resolved


def _describe_codebook(resolved: ResolvedCodebook, report: ImportReport) -> None:
    report.codebook = resolved.codebook.key
    report.codebook_origin = resolved.origin
    report.codes = sum(1 for _ in resolved.codebook.all_codes())


def _coders(
    store: Store,
    connection: Connection,
    project: ProjectInfo,
    document: RefiProject,
    default_coder: str,
    report: ImportReport,
) -> dict[str | None, int]:
    """File user GUID (None: nobody named) → coder row id, creating coders with the file's GUIDs."""
    existing = refi_io.coder_records(connection, project)
    by_guid = {c.guid.lower(): c.pk for c in existing}
    by_name = {c.name: c.pk for c in existing}
    names = {u.guid: u.name for u in document.users}
    for guid in sorted(_referenced_users(document) - names.keys()):
        names[guid] = f"user-{guid[:8]}"
        report.dropped.append(f"codings name user {guid}, who is not declared; imported as coder {names[guid]!r}")
    coders: dict[str | None, int] = {}
    for guid, name in names.items():
        if guid in by_guid:
            coders[guid] = by_guid[guid]
        elif name in by_name:
            coders[guid] = by_name[name]
        else:
            coders[guid] = store.ensure_coder(project, Coder(name=name), connection)
            refi_io.set_coder_guid(connection, coders[guid], guid)
            by_name[name] = coders[guid]
    if any(user is None for user in _coding_users(document)):
        coders[None] = store.ensure_coder(project, Coder(name=default_coder), connection)
        report.notes.append(f"codings that name no user were attributed to coder {default_coder!r}")
    pks = set(coders.values())
    report.coders = sorted(c.name for c in refi_io.coder_records(connection, project) if c.pk in pks)
    return coders


def _coding_users(document: RefiProject) -> list[str | None]:
    return [user for source in document.sources for _, user, *_ in _placed_codings(source, document.creating_user)]


def _referenced_users(document: RefiProject) -> set[str]:
    return {user for user in _coding_users(document) if user is not None}


# -- incidents ----------------------------------------------------------------------------------
def _plan_incidents(document: RefiProject, report: ImportReport) -> list[tuple[RefiSource, Incident]]:
    """Incidents for the file's text sources, with unique external ids and their variables applied."""
    mapper = VariableMapper(document.variables, report.dropped)
    case_values, case_names = _cases_by_source(document, report)
    taken: set[str] = set()
    seen_guids: set[str] = set()
    renamed = 0
    planned = []
    for source in document.sources:
        if source.guid in seen_guids:
            raise InputError(report.file, f"two text sources share the GUID {source.guid}")
        seen_guids.add(source.guid)
        name = _unique_name(source.name, taken)
        renamed += name != source.name
        fields, metadata = mapper.apply({**case_values.get(source.guid, {}), **source.values})
        cases = [n for n in case_names.get(source.guid, []) if n and n != source.name]
        if cases:
            metadata.setdefault("case", cases[0] if len(cases) == 1 else cases)
        if len(name) > MAX_EXTERNAL_ID:
            raise InputError(report.file, f"source name {name[:40]!r}... is longer than {MAX_EXTERNAL_ID} characters")
        planned.append(
            (
                source,
                Incident(external_id=name, text=source.text, metadata=metadata, **incident_fields(fields)),
            )
        )
    mapper.report()
    if renamed:
        report.notes.append(f"{renamed} source(s) shared a name with another; numbered ' (2)', ' (3)', ...")
    return planned


def _cases_by_source(
    document: RefiProject, report: ImportReport
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    known = {s.guid for s in document.sources}
    values: dict[str, dict[str, Any]] = {}
    names: dict[str, list[str]] = {}
    missing = 0
    for case in document.cases:
        for guid in case.source_guids:
            if guid not in known:
                missing += 1
                continue
            values.setdefault(guid, {}).update(case.values)
            names.setdefault(guid, []).append(case.name)
    if missing:
        report.dropped.append(f"{missing} case reference(s) to sources that were not imported")
    return values, names


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    taken.add(candidate)
    return candidate


def _incidents(
    connection: Connection,
    project: ProjectInfo,
    planned: list[tuple[RefiSource, Incident]],
    import_id: int,
    report: ImportReport,
) -> dict[str, int]:
    """Source GUID → incident row id: existing incidents are matched (by GUID, else name + text)."""
    by_guid = refi_io.incidents_by_guid(connection, project, [s.guid for s, _ in planned])
    by_name = refi_io.incidents_by_external_id(connection, project, [i.external_id for _, i in planned])
    pks: dict[str, int] = {}
    new: list[NewIncident] = []
    for source, incident in planned:
        match = _existing(source, incident, by_guid, by_name, report.file)
        if match is not None:
            pks[source.guid] = match
            report.incidents_matched += 1
        else:
            new.append(NewIncident(guid=source.guid, incident=incident, created_at=source.created))
    pks.update(refi_io.insert_incidents(connection, project, new, import_id))
    report.incidents_added = len(new)
    if report.incidents_matched:
        report.notes.append(f"{report.incidents_matched} source(s) were already incidents of the project; reused")
    return pks


def _existing(
    source: RefiSource,
    incident: Incident,
    by_guid: dict[str, tuple[int, str, str]],
    by_name: dict[str, tuple[int, str, str]],
    file: str,
) -> int | None:
    if source.guid in by_guid:
        pk, external_id, text = by_guid[source.guid]
        if text != incident.text:
            raise InputError(file, f"source {source.name!r} has the GUID of incident {external_id!r} but another text")
        return pk
    if incident.external_id in by_name:
        pk, _, text = by_name[incident.external_id]
        if text != incident.text:
            raise InputError(
                file,
                f"the project already has an incident {incident.external_id!r} with another text; "
                "import into a new project (covalue init --project NAME) or rename the source",
            )
        return pk
    return None


# -- codings ------------------------------------------------------------------------------------
def _codings(
    connection: Connection,
    project: ProjectInfo,
    document: RefiProject,
    resolved: ResolvedCodebook | None,
    coders: dict[str | None, int],
    incidents: dict[str, int],
    report: ImportReport,
) -> None:
    if resolved is None:
        return
    skipped: Counter[str] = Counter()
    rows: list[NewCoding] = []
    seen: set[str] = set()
    for source in document.sources:
        for coding, user, span, memo in _placed_codings(source, document.creating_user):
            target = resolved.code_of_guid.get(coding.code_guid)
            if target is None or not resolved.codebook.code(*target).codable:
                skipped["coding(s) of codes that are not in the codebook or not codable"] += 1
                continue
            if coding.guid in seen:
                skipped["coding(s) whose GUID repeats an earlier one"] += 1
                continue
            seen.add(coding.guid)
            rows.append(
                NewCoding(
                    guid=coding.guid, incident_pk=incidents[source.guid], coder_pk=coders[user],
                    codebook_pk=resolved.pk, dimension=target[0], code_id=target[1],
                    start=span[0] if span else None, end=span[1] if span else None,
                    memo=memo, created_at=coding.created,
                )
            )  # fmt: skip
    present = refi_io.existing_coding_guids(connection, project, [r.guid for r in rows])
    refi_io.insert_codings(connection, [r for r in rows if r.guid not in present])
    report.codings_added = len(rows) - len(present)
    report.codings_already_present = len(present)
    report.dropped.extend(f"{n} {what}" for what, n in skipped.items())


def _placed_codings(
    source: RefiSource, project_user: str | None
) -> list[tuple[RefiCoding, str | None, tuple[int, int] | None, str | None]]:
    """(coding, user, span or None for the whole incident, memo) for every coding of a source."""
    placed: list[tuple[RefiCoding, str | None, tuple[int, int] | None, str | None]] = [
        (c, c.user_guid or source.user_guid or project_user, None, None) for c in source.codings
    ]
    length = len(source.text)
    for selection in source.selections:
        whole = selection.start == 0 and selection.end == length
        span = None if whole else (selection.start, selection.end)
        user = selection.user_guid or source.user_guid or project_user
        placed.extend((c, c.user_guid or user, span, selection.description) for c in selection.codings)
    return placed
