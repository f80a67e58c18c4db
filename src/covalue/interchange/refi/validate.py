"""Validate REFI-QDA XML against the official 1.0 schemas bundled in ``schemas/``.

Used by the tests on every export and available at run time on request (``validate=True``):
the standard calls a program compliant only when what it writes is schema-valid. Needs the
``xmlschema`` package, imported lazily so that plain imports and exports do not.
"""

from __future__ import annotations

import functools
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import fromstring

from covalue.errors import CovalueError

Kind = Literal["project", "codebook"]
_FILES = {"project": "Project.xsd", "codebook": "Codebook.xsd"}
MAX_LISTED = 10


@functools.cache
def schema(kind: Kind) -> Any:
    """The compiled XSD (cached: compiling Project.xsd takes a noticeable fraction of a second)."""
    try:
        import xmlschema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CovalueError("validating REFI-QDA files needs the 'xmlschema' package (pip install xmlschema)") from exc
    with resources.as_file(resources.files(__package__).joinpath("schemas", _FILES[kind])) as path:
        return xmlschema.XMLSchema(str(path))


def schema_errors(data: bytes, kind: Kind) -> list[str]:
    """Every schema violation of ``data`` (our own output: parsed with the standard library)."""
    document = fromstring(data)
    return [f"{error.path}: {error.reason}" for error in schema(kind).iter_errors(document)]


def validate_xml(data: bytes, kind: Kind, label: str) -> None:
    """Raise CovalueError listing the first violations when ``data`` is not schema-valid."""
    errors = schema_errors(data, kind)
    if errors:
        listed = "\n  ".join(errors[:MAX_LISTED])
        more = f"\n  ... and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
        raise CovalueError(f"{label} does not validate against the REFI-QDA {kind} schema:\n  {listed}{more}")


def validate_qdc(path: str | Path) -> None:
    validate_xml(Path(path).read_bytes(), "codebook", str(path))


def validate_qdpx(path: str | Path) -> None:
    with zipfile.ZipFile(path) as archive:
        validate_xml(archive.read("project.qde"), "project", f"{path}!project.qde")
