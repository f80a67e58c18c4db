"""Turn a REFI-QDA code tree into a covalue codebook (YAML that ``parse_codebook`` accepts).

The rules, in the order applied:

1. ATLAS.ti flattens hierarchy into names (``Coke::diet Coke``, spec Annex A.2): such names
   are split and the tree rebuilt, creating non-codable grouping codes for missing parents.
2. Every top-level code with children becomes a *dimension*; its children are the dimension's
   codes, nested as in the file. Top-level codes without children (a flat codebook, or loose
   codes beside groups) go together into one dimension ``codes``.
3. A top-level code that the file marks codable *and* that some coding uses cannot be just a
   dimension (covalue never codes a dimension itself), so it also becomes the root code of its
   dimension, with its children below it.
4. Ids, levels, cardinality and the codebook key come from covalue trailers when present (a
   file covalue wrote); otherwise ids are made from names, levels from the tree's shape,
   and dimensions are multi-valued (a QDA program lets a coder apply any number of codes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml

from covalue.framework.codebook import Codebook
from covalue.framework.loader import parse_codebook
from covalue.framework.schema import Level
from covalue.interchange.refi.model import RefiCode
from covalue.interchange.refi.xmlutil import slug, split_trailer, unique

SEPARATOR = "::"
LOOSE_DIMENSION = "codes"
_LEVELS = set(get_args(Level))


@dataclass
class ConvertedCodebook:
    """A covalue codebook spec built from REFI codes, and where each file GUID landed."""

    spec: dict[str, Any]
    code_of_guid: dict[str, tuple[str, str]]  # file GUID → (dimension, code id)
    key_hint: str | None = None  # ``id@version`` named by covalue trailers, if any
    notes: list[str] = field(default_factory=list)

    def yaml_text(self, header: str = "") -> str:
        body = yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True, width=100)
        return (header + body) if header else body

    def codebook(self, label: str, header: str = "") -> Codebook:
        """The validated covalue codebook (its YAML text kept as ``source_text``)."""
        return parse_codebook(self.yaml_text(header), label)


def expand_flattened(codes: list[RefiCode]) -> tuple[list[RefiCode], int]:
    """Rebuild the hierarchy of ``Parent::Child`` names; returns (tree, how many names were split)."""
    groups: dict[tuple[str, ...], RefiCode] = {}
    split = _expand(codes, (), groups)
    return codes if not split else _rebuilt(codes, groups), split


def _expand(codes: list[RefiCode], path: tuple[str, ...], groups: dict[tuple[str, ...], RefiCode]) -> int:
    count = 0
    for code in codes:
        count += SEPARATOR in code.name
        count += _expand(code.children, (*path, code.name), groups)
    return count


def _rebuilt(codes: list[RefiCode], groups: dict[tuple[str, ...], RefiCode]) -> list[RefiCode]:
    plain = {code.name: code for code in codes if SEPARATOR not in code.name}
    result: list[RefiCode] = []
    placed: set[int] = set()
    for code in codes:
        if SEPARATOR not in code.name:
            if id(code) not in placed:
                result.append(code)
                placed.add(id(code))
            continue
        parts = [p.strip() for p in code.name.split(SEPARATOR) if p.strip()] or [code.name]
        parent = _parent_chain(parts[:-1], plain, groups, result, placed)
        code.name = parts[-1]
        if parent is None:
            result.append(code)
        else:
            parent.children.append(code)
    for code in result:
        code.children, _ = expand_flattened(code.children)
    return result


def _parent_chain(
    parts: list[str],
    plain: dict[str, RefiCode],
    groups: dict[tuple[str, ...], RefiCode],
    result: list[RefiCode],
    placed: set[int],
) -> RefiCode | None:
    parent: RefiCode | None = None
    for depth, part in enumerate(parts):
        path = tuple(parts[: depth + 1])
        if parent is None:
            node = plain.get(part) or groups.get(path)
        else:
            node = next((c for c in parent.children if c.name == part), None)
        if node is None:
            guid = str(uuid.uuid5(uuid.NAMESPACE_URL, "refi-group:" + SEPARATOR.join(path)))
            node = RefiCode(guid=guid, name=part, codable=False)
            groups[path] = node
            if parent is not None:
                parent.children.append(node)
        if parent is None and id(node) not in placed:
            result.append(node)
            placed.add(id(node))
        parent = node
    return parent


def convert_codes(
    codes: list[RefiCode],
    *,
    codebook_id: str,
    version: str,
    name: str,
    description: str,
    used: set[str] | None = None,
) -> ConvertedCodebook:
    """A covalue codebook spec for ``codes``; ``used`` holds the code GUIDs codings refer to."""
    tree, split = expand_flattened(codes)
    result = ConvertedCodebook(spec={}, code_of_guid={})
    if split:
        result.notes.append(f"rebuilt the hierarchy of {split} code name(s) flattened with '::'")
    dimensions = _dimensions(tree, used or set(), result)
    result.spec = {
        "id": codebook_id,
        "version": version,
        "name": name,
        "description": description,
        "dimensions": dimensions,
    }
    return result


def _dimensions(tree: list[RefiCode], used: set[str], result: ConvertedCodebook) -> list[dict[str, Any]]:
    taken: set[str] = set()
    dimensions: list[dict[str, Any]] = []
    loose = [code for code in tree if not code.children]
    for top in tree:
        if top.children:
            dimensions.append(_dimension(top, top.children, taken, used, result))
    if loose:
        group = RefiCode(guid="", name="Codes", codable=False, description="Codes without a parent code.")
        dimensions.append(_dimension(group, loose, taken, used, result, fallback_id=LOOSE_DIMENSION))
    return dimensions


def _dimension(
    top: RefiCode,
    children: list[RefiCode],
    taken: set[str],
    used: set[str],
    result: ConvertedCodebook,
    fallback_id: str | None = None,
) -> dict[str, Any]:
    body, trailer = split_trailer(top.description)
    wanted = trailer.get("dimension")
    valid = isinstance(wanted, str) and _valid_id(wanted)
    dimension_id = unique(wanted if valid else slug(fallback_id or top.name, "dimension"), taken)
    if isinstance(trailer.get("codebook"), str) and result.key_hint is None:
        result.key_hint = trailer["codebook"]
    members = children
    if top.guid and top.codable and top.guid in used and "dimension" not in trailer:
        root = RefiCode(top.guid, top.name, True, top.color, top.description, list(children))
        members = [root]
        result.notes.append(f"code {top.name!r} is both a group and applied; it is dimension "
                            f"{dimension_id!r} and also a code in it")  # fmt: skip
    code_ids: set[str] = set()
    codes = [_code(child, dimension_id, code_ids, used, result) for child in members]
    if not any(_any_codable(c) for c in codes):
        for code in codes:
            _make_leaves_codable(code)
        result.notes.append(f"dimension {dimension_id!r} had no codable code; its leaf codes were made codable")
    cardinality = trailer.get("cardinality")
    return {
        "id": dimension_id,
        "name": top.name,
        "description": body or top.name,
        "cardinality": cardinality if cardinality in {"single", "multi"} else "multi",
        "required": bool(trailer.get("required", False)),
        "codes": codes,
    }


def _code(code: RefiCode, dimension: str, taken: set[str], used: set[str], result: ConvertedCodebook) -> dict[str, Any]:
    body, trailer = split_trailer(code.description)
    wanted = trailer.get("code")
    if isinstance(wanted, str) and wanted not in taken and _valid_id(wanted):
        code_id = unique(wanted, taken)
    else:
        code_id = unique(slug(code.name), taken)
    result.code_of_guid[code.guid] = (dimension, code_id)
    codable = code.codable or code.guid in used
    if codable and not code.codable:
        result.notes.append(f"code {code.name!r} is marked not codable but codings use it; made codable")
    level = trailer.get("level")
    entry: dict[str, Any] = {
        "id": code_id,
        "name": code.name,
        "definition": body or code.name,
        "level": level if level in _LEVELS else _level_from_shape(code),
        "codable": codable,
    }
    if code.color:
        entry["colour"] = code.color
    if code.children:
        entry["codes"] = [_code(child, dimension, taken, used, result) for child in code.children]
    return entry


def _valid_id(value: str) -> bool:
    return value[:1].isalnum() and all(ch.isalnum() or ch in "_.-" for ch in value) and value.isascii()


def _level_from_shape(code: RefiCode) -> str:
    """Leaves are codes; a group of groups is an aggregate dimension; a group of leaves a theme."""
    if not code.children:
        return "code"
    return "aggregate" if any(child.children for child in code.children) else "theme"


def _any_codable(entry: dict[str, Any]) -> bool:
    return bool(entry["codable"]) or any(_any_codable(c) for c in entry.get("codes", ()))


def _make_leaves_codable(entry: dict[str, Any]) -> None:
    if not entry.get("codes"):
        entry["codable"] = True
    for child in entry.get("codes", ()):
        _make_leaves_codable(child)


def all_guids(codes: Iterable[RefiCode]) -> list[str]:
    return [c.guid for code in codes for c in code.walk()]
