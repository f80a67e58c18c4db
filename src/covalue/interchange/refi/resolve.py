"""Decide which covalue codebook an imported file's codes belong to.

Tried in order, first fit wins (a fit means: every code a coding uses maps to a codable code):

1. **the project's own codebook, by code GUIDs** — the file is a project covalue exported and
   a QDA program sent back (programs keep GUIDs), so codings land on the original codes;
2. **the codebook the covalue trailers name** (``vcd@1.0.0``), if the project has it or covalue
   bundles it — the full codebook, with indicators and examples, comes back;
3. **a codebook rebuilt from the file** (see ``convert``), versioned ``+refi`` so it never
   claims to be the original, and stored with the file's code GUIDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from covalue.errors import CodebookError
from covalue.framework.codebook import Codebook
from covalue.framework.loader import bundled_codebook_ids
from covalue.interchange.refi.codebook import load_bundled, parse_stored
from covalue.interchange.refi.convert import ConvertedCodebook, all_guids, convert_codes
from covalue.interchange.refi.model import RefiCode
from covalue.interchange.refi.xmlutil import slug
from covalue.store import refi_io
from covalue.store.repository import ProjectInfo, Store

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CORE_VERSION = re.compile(r"^(\d+\.\d+\.\d+)")


@dataclass
class ResolvedCodebook:
    pk: int
    codebook: Codebook
    code_of_guid: dict[str, tuple[str, str]]  # file code GUID → (dimension, code id)
    origin: str


@dataclass(frozen=True)
class Naming:
    """What to call a rebuilt codebook when the file does not say."""

    fallback_id: str
    name: str
    description: str
    header: str
    label: str


def naming_for(file: str, title: str, origin: str | None) -> Naming:
    source = f"the REFI-QDA file {Path(file).name}" + (f" (written by {origin})" if origin else "")
    return Naming(
        fallback_id=slug(Path(file).stem, "refi"),
        name=title,
        description=f"Converted by covalue from {source}.",
        header=(
            f"# Converted by covalue from {source}.\n"
            "# Names, definitions (from descriptions), colours and the hierarchy come from the file;\n"
            "# review the cardinalities and add indicators before using it for automatic coding.\n"
        ),
        label=file,
    )


def resolve_codebook(
    store: Store,
    connection: Connection,
    project: ProjectInfo,
    codes: list[RefiCode],
    used: set[str],
    naming: Naming,
    notes: list[str],
) -> ResolvedCodebook:
    """The codebook for ``codes`` in ``project``, attached if it is new (on ``connection``)."""
    found = _by_stored_guids(connection, project, codes, used, notes)
    if found is not None:
        return found
    converted = convert_file_codes(codes, used, naming)
    found = _by_key(store, connection, project, converted, used) or attach_rebuilt(
        store, connection, project, converted, naming
    )
    notes.extend(converted.notes)
    return found


def _by_stored_guids(
    connection: Connection, project: ProjectInfo, codes: list[RefiCode], used: set[str], notes: list[str]
) -> ResolvedCodebook | None:
    index = refi_io.code_guid_index(connection, project)
    hits = {guid: index[guid] for guid in all_guids(codes) if guid in index}
    if not hits or len({pk for pk, *_ in hits.values()}) != 1 or not used <= hits.keys():
        return None
    pk = next(iter(hits.values()))[0]
    key, text = refi_io.codebook_source(connection, pk)
    codebook = parse_stored(text, key)
    mapping = {guid: (dimension, code) for guid, (_, _, dimension, code) in hits.items()}
    if not _fits(codebook, mapping, used):
        return None
    extra = len(all_guids(codes)) - len(hits)
    if extra:
        notes.append(f"{extra} code(s) of the file are not in codebook {key} and no coding uses them; ignored")
    return ResolvedCodebook(pk, codebook, mapping, f"matched the project's codebook {key} by code GUIDs")


def convert_file_codes(codes: list[RefiCode], used: set[str], naming: Naming) -> ConvertedCodebook:
    """Convert codes; a covalue trailer's key gives the id and a ``+refi`` version (never the original's)."""
    converted = convert_codes(
        codes, codebook_id=naming.fallback_id, version="1.0.0", name=naming.name,
        description=naming.description, used=used,
    )  # fmt: skip
    if converted.key_hint:
        hint_id, _, hint_version = converted.key_hint.partition("@")
        if _ID.match(hint_id):
            converted.spec["id"] = hint_id
        core = _CORE_VERSION.match(hint_version)
        converted.spec["version"] = f"{core.group(1) if core else '1.0.0'}+refi"
    return converted


def _by_key(
    store: Store, connection: Connection, project: ProjectInfo, converted: ConvertedCodebook, used: set[str]
) -> ResolvedCodebook | None:
    keys = refi_io.codebook_keys(connection, project)
    named = _named_codebook(connection, converted.key_hint, keys)
    if named is None:
        return None
    codebook, where = named
    mapping = {g: dc for g, dc in converted.code_of_guid.items() if codebook.has_code(*dc)}
    if not _fits(codebook, mapping, used):
        return None
    pk = store.add_codebook(project, codebook, connection)
    if codebook.key not in keys:  # newly attached: give its codes the file's GUIDs
        refi_io.set_code_guids(connection, pk, {dc: g for g, dc in mapping.items()})
    resolved = ResolvedCodebook(pk, codebook, mapping, f"{where} codebook {codebook.key}, named in the file")
    extra = len(converted.code_of_guid) - len(mapping)
    if extra:
        converted.notes[:] = [f"{extra} code(s) of the file are not in {codebook.key} and no coding uses them; ignored"]
    else:
        converted.notes.clear()
    return resolved


def _named_codebook(
    connection: Connection, key: str | None, keys: dict[str, tuple[int, str]]
) -> tuple[Codebook, str] | None:
    """The codebook a covalue trailer names, from the project or covalue's bundled ones."""
    if not key:
        return None
    if key in keys:
        return parse_stored(refi_io.codebook_source(connection, keys[key][0])[1], key), "the project's"
    codebook_id, _, version = key.partition("@")
    if codebook_id not in bundled_codebook_ids():
        return None
    try:
        codebook = load_bundled(codebook_id)
    except CodebookError:
        return None
    return (codebook, "covalue's bundled") if codebook.version == version else None


def _fits(codebook: Codebook, mapping: dict[str, tuple[str, str]], used: set[str]) -> bool:
    for guid in used:
        target = mapping.get(guid)
        if target is None or not codebook.has_code(*target) or not codebook.code(*target).codable:
            return False
    return True


def attach_rebuilt(
    store: Store, connection: Connection, project: ProjectInfo, converted: ConvertedCodebook, naming: Naming
) -> ResolvedCodebook:
    """Attach the rebuilt codebook under the first free version (or the identical one already there)."""
    keys = refi_io.codebook_keys(connection, project)
    codebook = None
    for version in _versions(converted.spec["version"]):
        converted.spec["version"] = version
        codebook = converted.codebook(naming.label, naming.header)
        existing = keys.get(codebook.key)
        if existing is None or existing[1] == codebook.sha256:
            break
    assert codebook is not None
    new = codebook.key not in keys
    pk = store.add_codebook(project, codebook, connection)
    if new:
        refi_io.set_code_guids(connection, pk, {dc: g for g, dc in converted.code_of_guid.items()})
    return ResolvedCodebook(pk, codebook, dict(converted.code_of_guid), f"rebuilt from the file as {codebook.key}")


def _versions(base: str) -> Iterator[str]:
    yield base
    core = base.split("+", 1)[0]
    n = 2
    while True:
        yield f"{core}+refi.{n}"
        n += 1
