"""What pages and the API show, assembled from queries: codebook trees and dashboard data.

Kept apart from the routers so the HTML page and its JSON twin show the same numbers.
"""

from __future__ import annotations

from typing import Any

from covalue.analysis import spirals
from covalue.framework.codebook import Codebook
from covalue.model.incident import Incident
from covalue.web import dashboards, sequences
from covalue.web.repository import Member, WebError, WebStore

#: Coders a dashboard shows first, when present: the adjudicated codes, then reference labels.
PREFERRED_CODERS = ("consensus", "gold")


def codebook_tree(codebook: Codebook) -> dict[str, Any]:
    """Dimensions with their codes (hierarchy flattened with depth) for the coding panel."""
    dimensions = []
    for dimension in codebook.dimensions:
        codes = []
        for flat in codebook.codes(dimension.id):
            codes.append(
                {
                    "id": flat.id,
                    "name": flat.code.name,
                    "parent": flat.parent,
                    "depth": len(flat.ancestors),
                    "codable": flat.codable,
                    "definition": (flat.code.definition or "").strip(),
                    "colour": getattr(flat.code, "colour", None),
                }
            )
        dimensions.append(
            {
                "id": dimension.id,
                "name": dimension.name,
                "multi": dimension.cardinality == "multi",
                "description": (dimension.description or "").strip(),
                "codes": codes,
            }
        )
    return {"key": codebook.key, "name": codebook.spec.name, "dimensions": dimensions}


def choose_coder(web: WebStore, member: Member, coder: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The coder a dashboard shows (the asked one if visible, else a sensible default)."""
    coders = web.visible_coders(member)
    names = [c["name"] for c in coders]
    if coder is not None:
        if coder not in names:
            raise WebError(f"no visible codings of coder {coder!r}", 404)
        return coder, coders
    for preferred in PREFERRED_CODERS:
        if preferred in names:
            return preferred, coders
    machine = [c["name"] for c in coders if c["kind"] == "machine"]
    if machine:
        return machine[0], coders
    if member.coder_name in names:
        return member.coder_name, coders
    return (names[0] if names else None), coders


def _incidents(web: WebStore, member: Member) -> list[Incident]:
    return list(web.store.iter_incidents(member.project))


def analysis_frame(
    web: WebStore, member: Member, coder: str | None, *, with_text: bool = False, with_evidence: bool = True
):
    """The analysis frame of the coder's visible codes, and the codebook and coder used.

    ``with_evidence=False`` skips the evidence spans, whose JSON decoding is a third of the time
    of pages that never show them (spirals, timelines).
    """
    chosen, coders = choose_coder(web, member, coder)
    codebook_pk, codebook = web.codebook(member.project)
    rows = web.visible_rows(member, chosen, codebook_pk, codebook) if chosen else {}
    evidence = web.visible_evidence(member, chosen, codebook_pk) if chosen and with_evidence else {}
    data = dashboards.frame(_incidents(web, member), rows, codebook, evidence, with_text=with_text)
    return data, codebook, chosen, coders


def figure_svg(web: WebStore, member: Member, coder: str | None, name: str) -> str:
    """A dashboard figure of the coder's visible codes (the Gioia figure counts cues in the text)."""
    data, codebook, _, _ = analysis_frame(web, member, coder, with_text=name == "gioia")
    try:
        return dashboards.figure(name, data, codebook)
    except (KeyError, ValueError) as exc:
        raise WebError(str(exc), 404) from None


def dashboard_context(web: WebStore, member: Member, coder: str | None) -> dict[str, Any]:
    data, codebook, chosen, coders = analysis_frame(web, member, coder)
    by = "source"
    return {
        "coder": chosen,
        "coders": coders,
        "n": len(data),
        "codebook": codebook,
        "frequencies": dashboards.frequencies(data, codebook),
        "gioia": dashboards.gioia(data, codebook),
        "breakdown": dashboards.crosstab(data, codebook, "valence", by)
        if "valence" in codebook.dimension_ids
        else None,
        "reasons_by_resource": dashboards.crosstab(data, codebook, "reasons", "resources_lost")
        if {"reasons", "resources_lost"} <= set(codebook.dimension_ids)
        else None,
        "trend": dashboards.trend(data, codebook, "valence") if "valence" in codebook.dimension_ids else None,
        "table3": dashboards.table3(data, codebook),
        "figures": dashboards.FIGURES
        if {"reasons", "valence", "phase", "resources_lost"} <= set(codebook.dimension_ids)
        else (),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dashboards.Cell):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("codebook", "data")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dashboard_json(web: WebStore, member: Member, coder: str | None) -> dict[str, Any]:
    return _plain(dashboard_context(web, member, coder))


def drill_items(web: WebStore, member: Member, coder: str | None, filters: list[str]) -> tuple[str | None, list[str]]:
    data, codebook, chosen, _ = analysis_frame(web, member, coder)
    try:
        return chosen, dashboards.drill(data, codebook, filters)
    except ValueError as exc:
        raise WebError(str(exc)) from None


# -- loss spirals and timelines -----------------------------------------------------------------
def _sequence_frame(web: WebStore, member: Member, coder: str | None, by: str | None):
    """The visible frame, the grouping key (``sequences.group_key``) and the coder choice."""
    data, codebook, chosen, coders = analysis_frame(web, member, coder, with_evidence=False)
    try:
        key = sequences.group_key(data, by)
    except ValueError as exc:
        raise WebError(str(exc)) from None
    return data, codebook, chosen, coders, key


def spirals_context(web: WebStore, member: Member, coder: str | None, by: str | None = None) -> dict[str, Any]:
    """The loss-spiral page: summary cards and tables, each count carrying its group selection."""
    data, codebook, chosen, coders, key = _sequence_frame(web, member, coder, by)
    context: dict[str, Any] = {"coder": chosen, "coders": coders, "n": len(data), "key": key, "tables": None}
    context["supported"] = sequences.supported(codebook)
    if key is not None and context["supported"]:
        found = sequences.detect(data, codebook, key)
        unit = sequences.unit_name(key)
        context["tables"] = sequences.spiral_tables(found, codebook, unit) if len(found) else None
        context["role_column"] = spirals.config_for(data).role_column
    return context


def spiral_groups(
    web: WebStore, member: Member, coder: str | None, by: str | None, filters: list[str]
) -> dict[str, Any]:
    """The groups behind a spiral count and their incidents (the same frame and detector as the page)."""
    data, codebook, chosen, _, key = _sequence_frame(web, member, coder, by)
    if key is None or not sequences.supported(codebook):
        return {"coder": chosen, "key": key, "codebook": codebook, "data": data, "groups": data.iloc[0:0]}
    found = sequences.detect(data, codebook, key)
    try:
        groups = sequences.select_groups(found, filters) if len(found) else found
    except ValueError as exc:
        raise WebError(str(exc)) from None
    return {"coder": chosen, "key": key, "codebook": codebook, "data": data, "groups": groups}


def timeline_context(
    web: WebStore, member: Member, coder: str | None, by: str | None, group: str | None
) -> dict[str, Any]:
    """Threads or customers with most incidents and, for the chosen one, its incidents in time order."""
    data, codebook, chosen, coders, key = _sequence_frame(web, member, coder, by)
    context: dict[str, Any] = {"coder": chosen, "coders": coders, "n": len(data), "key": key, "groups": []}
    context.update(group=None, steps=[])
    if key is None:
        return context
    context["groups"] = sequences.timeline_groups(data, codebook, key)
    chosen_group = group or (context["groups"][0]["value"] if context["groups"] else None)
    if chosen_group is not None:
        steps = sequences.timeline_steps(data, codebook, key, chosen_group)
        if group is not None and not steps:
            raise WebError(f"no visible incidents of {sequences.unit_name(key)} {group!r}", 404)
        context.update(group=chosen_group, steps=steps)
    return context


def timeline_svg(web: WebStore, member: Member, coder: str | None, by: str | None, group: str) -> str:
    data, codebook, _, _, key = _sequence_frame(web, member, coder, by)
    if key is None or not len(data) or not data[key].astype(object).eq(group).any():
        raise WebError(f"no visible incidents of {group!r}", 404)
    return sequences.timeline_svg(data, codebook, key, group)


def plain(value: Any) -> Any:
    """Cells as ``{count, filters}``; drops codebooks and frames (not JSON)."""
    return _plain(value)
