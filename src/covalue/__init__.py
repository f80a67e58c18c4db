"""covalue: find, code and explain value co-creation and co-destruction in service incidents.

The light parts (codebooks, domain model) import eagerly; the coding stack (scikit-learn,
SciPy, tokenizers) is imported on first use of its names, so ``import covalue`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from covalue.framework import Codebook, load_codebook
from covalue.model import Coder, Coding, Incident, Span

__version__ = "0.1.0"

_LAZY = {
    "Store": "covalue.store",
    "import_incidents": "covalue.ingest",
    "import_labels": "covalue.ingest",
    "SupervisedCoder": "covalue.coding",
    "KeywordCoder": "covalue.coding",
    "SimilarityCoder": "covalue.coding",
    "LLMCoder": "covalue.coding",
    "FeatureSpace": "covalue.coding",
    "load_model": "covalue.coding",
    "evaluate": "covalue.coding",
}

__all__ = ["Codebook", "Coder", "Coding", "Incident", "Span", "__version__", "load_codebook", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'covalue' has no attribute {name!r}")
