"""Agreement, disagreements and adjudication of a closed round, on top of ``analysis.reliability``.

The statistics, the disagreement list and the consensus writer are the CLI's
(``covalue agree``/``covalue consensus``); this module only restricts them to a round's
incidents and coders, and refuses to show anything while the round is still open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from covalue.analysis.reliability import (
    ConsensusReport,
    Disagreement,
    disagreements,
    record_consensus,
    reliability_from_rows,
    rows_from_store,
)
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.model.labels import LabelRow
from covalue.web.repository import Conflict, Forbidden, Member, WebError, WebStore

CONSENSUS = "consensus"


@dataclass(frozen=True)
class RoundResults:
    codebook: Codebook
    rows: dict[str, dict[str, LabelRow]]
    fields: list[dict[str, Any]]
    n: int
    dropped: dict[str, int]
    disagreements: list[Disagreement]
    consensus: dict[str, LabelRow]
    message: str | None = None


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 3)


def round_rows(web: WebStore, member: Member, round_id: int) -> tuple[Codebook, dict[str, dict[str, LabelRow]]]:
    """Each round coder's incident-level codes of the round's incidents, as label rows."""
    view = web.round(member, round_id)
    codebook_pk, codebook = web.round_codebook(member, round_id)
    items = set(web.round_incidents(member, round_id))
    rows = rows_from_store(web.store, member.project, codebook_pk, list(view.coders), codebook.dimension_ids)
    return codebook, {coder: {i: r for i, r in by_item.items() if i in items} for coder, by_item in rows.items()}


def results(web: WebStore, member: Member, round_id: int) -> RoundResults:
    """Agreement per field and the disagreement list of a closed round."""
    view = web.round(member, round_id)
    if view.status == "open":
        raise Conflict("the round is still open; agreement is shown once the owner closes it")
    codebook, rows = round_rows(web, member, round_id)
    consensus = _consensus_rows(web, member, round_id, codebook)
    try:
        report = reliability_from_rows(rows, codebook, bootstrap=0)
    except (CovalueError, ValueError) as exc:
        return RoundResults(codebook, rows, [], 0, {}, [], consensus, message=str(exc))
    fields = []
    for name, field in report.fields.items():
        overall = field.overall
        fields.append(
            {
                "field": name,
                "name": codebook.dimension(name).name,
                "multi": field.multi,
                "units": overall.n_units,
                "percent_agreement": _number(overall.percent_agreement),
                "cohen_kappa": _number(overall.cohen_kappa),
                "fleiss_kappa": _number(overall.fleiss_kappa),
                "krippendorff_alpha": _number(overall.krippendorff_alpha),
                "aggregate_alpha": _number(field.aggregate.overall.krippendorff_alpha) if field.aggregate else None,
            }
        )
    found = disagreements(rows, codebook, fields=list(report.fields))
    return RoundResults(codebook, rows, fields, report.n, report.dropped, found, consensus)


def _consensus_rows(web: WebStore, member: Member, round_id: int, codebook: Codebook) -> dict[str, LabelRow]:
    if CONSENSUS not in {c.name for c in web.store.coders(member.project)}:
        return {}
    pk, _ = web.round_codebook(member, round_id)
    items = set(web.round_incidents(member, round_id))
    rows = rows_from_store(web.store, member.project, pk, [CONSENSUS], codebook.dimension_ids)[CONSENSUS]
    return {i: r for i, r in rows.items() if i in items}


def decision_for(
    codebook: Codebook, rows: dict[str, dict[str, LabelRow]], item_id: str, choices: dict[str, list[str]]
) -> LabelRow:
    """A complete consensus row: the owner's choices, and the coders' shared value elsewhere."""
    values: dict[str, tuple[str, ...]] = {}
    for dimension in codebook.dimension_ids:
        if dimension in choices:
            values[dimension] = tuple(choices[dimension])
            continue
        given = {
            tuple(sorted(r[item_id].values.get(dimension, ())))
            for r in rows.values()
            if item_id in r and (r[item_id].values.get(dimension) or codebook.is_multi(dimension))
        }
        if len(given) > 1:
            raise WebError(f"the coders disagree on {dimension!r} for {item_id!r}; choose a value")
        values[dimension] = next(iter(given)) if given else ()
    return LabelRow(item_id=item_id, values=values)


def adjudicate(
    web: WebStore, member: Member, round_id: int, item_id: str, choices: dict[str, list[str]]
) -> ConsensusReport:
    """Record the owner's decision on one incident as the consensus coder's codes."""
    if not member.can("owner"):
        raise Forbidden("only a project owner can adjudicate")
    if web.round(member, round_id).status == "open":
        raise Conflict("close the round before adjudicating")
    codebook, rows = round_rows(web, member, round_id)
    if not any(item_id in r for r in rows.values()):
        raise WebError(f"no coder of this round coded {item_id!r}")
    row = decision_for(codebook, rows, item_id, choices)
    return record_consensus(web.store, member.project, codebook, [row], CONSENSUS)


def accept_agreed(web: WebStore, member: Member, round_id: int) -> ConsensusReport | None:
    """Record the shared codes of every incident all coders coded without any disagreement."""
    if not member.can("owner"):
        raise Forbidden("only a project owner can adjudicate")
    found = results(web, member, round_id)
    disputed = {d.item_id for d in found.disagreements}
    coded_by_all = set.intersection(*(set(r) for r in found.rows.values())) if found.rows else set()
    items = [i for i in web.round_incidents(member, round_id) if i in coded_by_all and i not in disputed]
    if not items:
        return None
    decisions = [decision_for(found.codebook, found.rows, item, {}) for item in items]
    return record_consensus(web.store, member.project, found.codebook, decisions, CONSENSUS)
