"""Incident metadata as REFI-QDA variables and cases, both ways.

Export: every incident field that some incident fills (source, relationship type, channel,
date, customer, thread, position) and every free metadata key becomes a ``Variable``; each
incident gets one ``Case`` holding its values and pointing at its source. Types are chosen so
QDA programs can filter on them: ``DateTime`` for the date, ``Integer`` for the thread
position, and for metadata the one type all of a key's values share (``Text`` when they
differ or are lists/objects, which are then written as JSON and marked so in the trailer).

Import: variables covalue wrote are recognised by their trailer; others by name (``date``,
``channel``, ...); every other variable becomes a metadata key.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from covalue.ingest.mapping import parse_date
from covalue.interchange.refi.model import RefiVariable
from covalue.interchange.refi.xmlutil import format_datetime, slug, split_trailer, with_trailer
from covalue.model.incident import RELATIONSHIP_TYPES, Incident

FIELD_TYPES = {
    "source": "Text",
    "relationship_type": "Text",
    "channel": "Text",
    "date": "DateTime",
    "customer_id": "Text",
    "thread_id": "Text",
    "thread_position": "Integer",
}
_ATTRIBUTE = {"date": "occurred_at"}


class VariablePlan:
    """The variables of an export, decided from one pass over the incidents."""

    def __init__(self, project_guid: str) -> None:
        self._namespace = uuid.UUID(project_guid)
        self._fields: set[str] = set()
        self._kinds: dict[str, set[str]] = {}

    def observe(self, incident: Incident) -> None:
        for name in FIELD_TYPES:
            if field_value(incident, name) is not None:
                self._fields.add(name)
        for key, value in incident.metadata.items():
            self._kinds.setdefault(key, set()).add(_kind(value))

    def variables(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(GUID, name, type, trailer) per variable: fields in a fixed order, then metadata keys sorted."""
        found = [
            (self._guid(f"field:{name}"), name, FIELD_TYPES[name], {"field": name})
            for name in FIELD_TYPES
            if name in self._fields
        ]
        for key in sorted(self._kinds):
            kinds = self._kinds[key]
            kind = next(iter(kinds)) if len(kinds) == 1 else "json"
            trailer: dict[str, Any] = {"metadata": key}
            if kind == "json":
                trailer["encoding"] = "json"
            name = f"metadata.{key}" if key in FIELD_TYPES else key
            found.append((self._guid(f"metadata:{key}"), name, _TYPE_OF_KIND[kind], trailer))
        return found

    def _guid(self, key: str) -> str:
        return str(uuid.uuid5(self._namespace, f"variable:{key}"))


_TYPE_OF_KIND = {"str": "Text", "bool": "Boolean", "int": "Integer", "float": "Float", "json": "Text"}


def _kind(value: Any) -> str:
    """The value's REFI type family; ``json`` for what only JSON text can carry (null, lists, ...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float" if math.isfinite(value) else "json"
    return "str" if isinstance(value, str) else "json"


def field_value(incident: Incident, name: str) -> Any:
    return getattr(incident, _ATTRIBUTE.get(name, name))


def variable_element(guid: str, name: str, type_: str, trailer: dict[str, Any]) -> Element:
    element = Element("Variable", {"guid": guid, "name": name, "typeOfVariable": type_})
    SubElement(element, "Description").text = with_trailer(_describe(trailer), trailer)
    return element


def _describe(trailer: dict[str, Any]) -> str:
    if "field" in trailer:
        return f"covalue incident field {trailer['field']}"
    suffix = " (JSON)" if trailer.get("encoding") == "json" else ""
    return f"covalue incident metadata {trailer['metadata']}{suffix}"


def value_elements(incident: Incident, variables: Iterable[tuple[str, str, str, dict[str, Any]]]) -> list[Element]:
    """``VariableValue`` elements of one incident, in variable order, skipping empty values."""
    elements = []
    for guid, _, type_, trailer in variables:
        if "field" in trailer:
            value = field_value(incident, trailer["field"])
            if value is None:
                continue
        elif trailer["metadata"] in incident.metadata:
            value = incident.metadata[trailer["metadata"]]
        else:
            continue
        element = Element("VariableValue")
        SubElement(element, "VariableRef", {"targetGUID": guid})
        tag, text = _typed(type_, value, trailer.get("encoding") == "json")
        SubElement(element, tag).text = text
        elements.append(element)
    return elements


def _typed(type_: str, value: Any, as_json: bool) -> tuple[str, str]:
    if as_json:
        return "TextValue", json.dumps(value, ensure_ascii=False, sort_keys=True)
    if type_ == "DateTime":
        return "DateTimeValue", format_datetime(value)
    if type_ == "Boolean":
        return "BooleanValue", "true" if value else "false"
    if type_ == "Integer":
        return "IntegerValue", str(int(value))
    if type_ == "Float":
        return "FloatValue", format(Decimal(repr(value)), "f")  # xs:decimal has no exponent form
    return "TextValue", str(value)


# -- import -----------------------------------------------------------------------------------
class VariableMapper:
    """Applies a file's variable values to covalue incident fields and metadata."""

    def __init__(self, variables: list[RefiVariable], dropped: list[str]) -> None:
        self._targets = {v.guid: _target(v) for v in variables}
        self._dropped = dropped
        self.unknown = 0
        self.unmapped: dict[str, int] = {}

    def apply(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(incident field values, metadata) from variable GUID → value."""
        fields: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for guid, value in values.items():
            target = self._targets.get(guid)
            if target is None:
                self.unknown += 1
                continue
            kind, name, as_json = target
            if kind == "field":
                converted = _field(name, value)
                if converted is not None:
                    fields[name] = converted
                    continue
                self.unmapped[name] = self.unmapped.get(name, 0) + 1
                metadata[name] = value
            else:
                metadata[name] = _decoded(value) if as_json else value
        return fields, metadata

    def report(self) -> None:
        if self.unknown:
            self._dropped.append(f"{self.unknown} value(s) of variables the file does not declare")
        for name, count in self.unmapped.items():
            self._dropped.append(
                f"{count} value(s) of variable {name!r} could not be read as {name}; kept as metadata instead"
            )


def _target(variable: RefiVariable) -> tuple[str, str, bool]:
    _, trailer = split_trailer(variable.description)
    if isinstance(trailer.get("field"), str) and trailer["field"] in FIELD_TYPES:
        return "field", trailer["field"], False
    if isinstance(trailer.get("metadata"), str):
        return "metadata", trailer["metadata"], trailer.get("encoding") == "json"
    name = slug(variable.name, "variable")
    if name in FIELD_TYPES:
        return "field", name, False
    return "metadata", variable.name, False


def _field(name: str, value: Any) -> Any:
    """The value as incident field ``name`` wants it, or None when it cannot be."""
    if name == "date":
        try:
            return parse_date(value)
        except (ValueError, TypeError):
            return None
    if name == "thread_position":
        try:
            return int(value)
        except (ValueError, TypeError):
            return None
    text = str(value).strip()
    if name == "relationship_type":
        return text.upper() if text.upper() in RELATIONSHIP_TYPES else None
    return text or None


def _decoded(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return value


def incident_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`Incident` from field values."""
    return {_ATTRIBUTE.get(name, name): value for name, value in fields.items()}
