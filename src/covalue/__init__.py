"""covalue: find, code and explain value co-creation and co-destruction in service incidents."""

from covalue.framework import Codebook, load_codebook
from covalue.model import Coder, Coding, Incident, Span

__version__ = "0.1.0"

__all__ = ["Codebook", "Coder", "Coding", "Incident", "Span", "__version__", "load_codebook"]
