"""Frameworks as data: codebook schema, loading, validation and hierarchy lookups."""

from covalue.framework.codebook import Codebook, FlatCode
from covalue.framework.loader import bundled_codebook_ids, load_codebook, parse_codebook
from covalue.framework.schema import Code, CodebookSpec, Dimension, Source

__all__ = [
    "Code",
    "Codebook",
    "CodebookSpec",
    "Dimension",
    "FlatCode",
    "Source",
    "bundled_codebook_ids",
    "load_codebook",
    "parse_codebook",
]
