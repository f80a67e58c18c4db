"""The loaded, immutable codebook and the lookups every other layer needs.

The YAML nests codes; here they are flattened once into ``FlatCode`` records that know their
dimension, parent, ancestors and depth, so that rolling a theme up to its aggregate dimension
or checking that a label exists is a dictionary lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from covalue.framework.schema import Code, CodebookSpec, Dimension


@dataclass(frozen=True)
class FlatCode:
    """A code with its place in the hierarchy resolved."""

    dimension: str
    code: Code
    parent: str | None
    ancestors: tuple[str, ...]  # nearest first
    children: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.code.id

    @property
    def codable(self) -> bool:
        return self.code.codable


class Codebook:
    """A validated codebook with fast lookups; immutable after construction."""

    def __init__(self, spec: CodebookSpec, source_text: str | None = None) -> None:
        self._spec = spec
        self._source_text = source_text
        self._sha256 = hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()
        self._dimensions = {d.id: d for d in spec.dimensions}
        self._codes: dict[str, dict[str, FlatCode]] = {d.id: _flatten(d) for d in spec.dimensions}

    # -- identity ---------------------------------------------------------------------------
    @property
    def spec(self) -> CodebookSpec:
        return self._spec

    @property
    def source_text(self) -> str | None:
        """The YAML the codebook was loaded from (stored verbatim as the project's snapshot)."""
        return self._source_text

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def key(self) -> str:
        """``id@version``: how codings reference the codebook they were made with."""
        return f"{self.spec.id}@{self.spec.version}"

    @property
    def sha256(self) -> str:
        """Hash of the canonical JSON form, to detect two different files claiming one version."""
        return self._sha256

    # -- dimensions -------------------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return self.spec.dimensions

    @property
    def dimension_ids(self) -> list[str]:
        return [d.id for d in self.spec.dimensions]

    def dimension(self, dimension_id: str) -> Dimension:
        try:
            return self._dimensions[dimension_id]
        except KeyError:
            raise KeyError(
                f"codebook {self.key} has no dimension {dimension_id!r} (it has {', '.join(self.dimension_ids)})"
            ) from None

    def is_multi(self, dimension_id: str) -> bool:
        return self.dimension(dimension_id).cardinality == "multi"

    # -- codes ------------------------------------------------------------------------------
    def codes(self, dimension_id: str, *, codable_only: bool = False) -> list[FlatCode]:
        """Codes of a dimension in file order (depth-first)."""
        self.dimension(dimension_id)
        flat = self._codes[dimension_id].values()
        return [c for c in flat if c.codable or not codable_only]

    def code_ids(self, dimension_id: str, *, codable_only: bool = True) -> list[str]:
        return [c.id for c in self.codes(dimension_id, codable_only=codable_only)]

    def code(self, dimension_id: str, code_id: str) -> FlatCode:
        codes = self._codes[self.dimension(dimension_id).id]
        try:
            return codes[code_id]
        except KeyError:
            raise KeyError(f"dimension {dimension_id!r} of codebook {self.key} has no code {code_id!r}") from None

    def has_code(self, dimension_id: str, code_id: str) -> bool:
        return code_id in self._codes.get(dimension_id, {})

    def all_codes(self) -> Iterator[FlatCode]:
        for dimension_id in self.dimension_ids:
            yield from self._codes[dimension_id].values()

    def roll_up(self, dimension_id: str, code_id: str, level: str) -> str | None:
        """The ancestor (or the code itself) at ``level``; None when there is none.

        ``roll_up("reasons", "R4.2", "aggregate") == "R4"``: how theme-level codings are
        counted at the aggregate-dimension level of the Gioia structure.
        """
        flat = self.code(dimension_id, code_id)
        if flat.code.level == level:
            return flat.id
        for ancestor in flat.ancestors:
            if self.code(dimension_id, ancestor).code.level == level:
                return ancestor
        return None

    def levels(self, dimension_id: str) -> list[str]:
        """The Gioia levels a dimension uses, from most abstract to most concrete."""
        order = ["aggregate", "theme", "first_order", "code"]
        present = {c.code.level for c in self.codes(dimension_id)}
        return [level for level in order if level in present]

    def __repr__(self) -> str:
        return f"Codebook({self.key!r}, dimensions={self.dimension_ids})"


def _flatten(dimension: Dimension) -> dict[str, FlatCode]:
    """Depth-first flattening; explicit ``parent`` fields in flat lists are honoured too."""
    nested_parent: dict[str, str | None] = {}
    order: list[Code] = []

    def visit(codes: tuple[Code, ...], parent: str | None) -> None:
        for code in codes:
            nested_parent[code.id] = code.parent or parent
            order.append(code)
            visit(code.codes, code.id)

    visit(dimension.codes, None)
    children: dict[str, list[str]] = {c.id: [] for c in order}
    for code in order:
        parent = nested_parent[code.id]
        if parent is not None:
            children[parent].append(code.id)
    flat: dict[str, FlatCode] = {}
    for code in order:
        ancestors: list[str] = []
        node = nested_parent[code.id]
        while node is not None:
            ancestors.append(node)
            node = nested_parent[node]
        flat[code.id] = FlatCode(
            dimension=dimension.id,
            code=code,
            parent=nested_parent[code.id],
            ancestors=tuple(ancestors),
            children=tuple(children[code.id]),
        )
    return flat
