"""Pydantic models of a codebook: the framework expressed as data.

A codebook is a set of *dimensions* (valence, reasons, coping, ...). Each dimension holds
*codes*; codes can nest, which makes the Gioia hierarchy explicit: an aggregate dimension
groups second-order themes, which group first-order codes. Nesting is how authors write
YAML; after loading, every code also knows its ``parent`` so that code can walk the tree
without recursion.

The models are frozen: a loaded codebook never changes, so codings can safely reference
``codebook_id@version`` and code ids.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Code levels, from the most abstract to the most concrete (Gioia et al. 2013 vocabulary).
Level = Literal["aggregate", "theme", "first_order", "code"]
Provenance = Literal["paper", "page", "derived", "background"]
Timing = Literal["before", "during", "after", "time_independent"]
RelationshipType = Literal["B2C", "B2B", "B2G", "G2C", "RI"]
Cardinality = Literal["single", "multi"]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.\-]+)?$")
_COLOUR = re.compile(r"^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_identifier(value: str) -> str:
    if not _ID_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use letters, digits, '_', '.', '-' and start with a letter or digit"
        )
    return value


class Source(_Frozen):
    """A bibliographic source that codes cite."""

    id: str
    citation: str
    doi: str | None = None
    url: str | None = None
    note: str | None = None

    _check_id = field_validator("id")(_check_identifier)


class Code(_Frozen):
    """One code of a dimension.

    ``codable`` is False for pure groupings (an aggregate dimension whose themes are what
    coders apply). ``parent`` is filled in by the loader from the nesting; authors may also
    give it explicitly in a flat list.
    """

    id: str
    name: str
    definition: str
    level: Level = "code"
    codable: bool = True
    parent: str | None = None
    indicators: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    provenance: Provenance | None = None
    timing: tuple[Timing, ...] = ()
    relationship_types: tuple[RelationshipType, ...] = ()
    colour: str | None = None
    note: str | None = None
    codes: tuple[Code, ...] = Field(default=(), description="Nested child codes.")

    _check_id = field_validator("id")(_check_identifier)

    @field_validator("colour")
    @classmethod
    def _check_colour(cls, value: str | None) -> str | None:
        if value is not None and not _COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour: use #RGB or #RRGGBB")
        return value


class RequiredWhen(_Frozen):
    """A dimension is required when another dimension takes one of some codes."""

    dimension: str
    codes: tuple[str, ...]


class Dimension(_Frozen):
    """A coding question: one (``single``) or several (``multi``) codes per incident."""

    id: str
    name: str
    description: str
    cardinality: Cardinality
    required: bool = False
    required_when: RequiredWhen | None = None
    codes: tuple[Code, ...] = ()

    _check_id = field_validator("id")(_check_identifier)


class CodebookSpec(_Frozen):
    """The whole codebook file as written by its author (codes still nested)."""

    id: str
    version: str
    name: str
    description: str
    language: str = "en"
    licence: str | None = None
    authors: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    dimensions: tuple[Dimension, ...] = ()

    _check_id = field_validator("id")(_check_identifier)

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version such as 1.0.0")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> CodebookSpec:
        """Cross-field rules pydantic cannot express per field."""
        source_ids = [s.id for s in self.sources]
        _no_duplicates(source_ids, "source id", "sources")
        known_sources = set(source_ids)
        if not self.dimensions:
            raise ValueError("a codebook needs at least one dimension")
        dim_ids = [d.id for d in self.dimensions]
        _no_duplicates(dim_ids, "dimension id", "dimensions")
        codes_by_dim: dict[str, set[str]] = {}
        for d_index, dim in enumerate(self.dimensions):
            where = f"dimensions[{d_index}] ({dim.id})"
            if not dim.codes:
                raise ValueError(f"{where}: a dimension needs at least one code")
            flat = list(_walk(dim.codes, None))
            _no_duplicates([c.id for c, _ in flat], "code id", where)
            ids = {c.id for c, _ in flat}
            codes_by_dim[dim.id] = ids
            for code, nested_parent in flat:
                if code.parent is not None and nested_parent is not None and code.parent != nested_parent:
                    raise ValueError(
                        f"{where}: code {code.id!r} is nested under {nested_parent!r} but names parent {code.parent!r}"
                    )
                if code.parent is not None and code.parent not in ids:
                    raise ValueError(f"{where}: code {code.id!r} names unknown parent {code.parent!r}")
                for source in code.sources:
                    if source not in known_sources:
                        raise ValueError(
                            f"{where}: code {code.id!r} cites unknown source {source!r}; declare it under 'sources'"
                        )
            _no_cycles({c.id: (c.parent or p) for c, p in flat}, where)
            if not any(c.codable for c, _ in flat):
                raise ValueError(f"{where}: no codable code; mark at least one code codable")
        for d_index, dim in enumerate(self.dimensions):
            rule = dim.required_when
            if rule is None:
                continue
            where = f"dimensions[{d_index}] ({dim.id}).required_when"
            if rule.dimension not in codes_by_dim:
                raise ValueError(f"{where}: unknown dimension {rule.dimension!r}")
            unknown = [c for c in rule.codes if c not in codes_by_dim[rule.dimension]]
            if unknown:
                raise ValueError(f"{where}: unknown codes {unknown} in dimension {rule.dimension!r}")
        return self


def _walk(codes: tuple[Code, ...], parent: str | None):
    """Yield (code, id of the code it is nested under) depth-first."""
    for code in codes:
        yield code, parent
        yield from _walk(code.codes, code.id)


def _no_duplicates(values: list[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{where}: duplicate {what} {value!r}")
        seen.add(value)


def _no_cycles(parent_of: dict[str, str | None], where: str) -> None:
    for start in parent_of:
        seen = {start}
        node = parent_of.get(start)
        while node is not None:
            if node in seen:
                raise ValueError(f"{where}: parent cycle through code {node!r}")
            seen.add(node)
            node = parent_of.get(node)
