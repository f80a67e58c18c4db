"""Project-level inter-coder reliability for the dashboards, with the disagreements behind it.

The statistics are ``covalue agree``'s (``analysis.reliability.rows_from_store`` and
``reliability_from_rows`` with bootstrap intervals). ``rows_from_store`` reads the store
directly, so its rows are cut down to the incidents whose codes the member may see
(:meth:`WebStore.visible_coded`, the blind-round rule of every other page): while a blind round is
open, a coder in it compares nothing of another round coder's work on its incidents, and an owner
who watches the round sees everything. Rounds show agreement on their own incidents; this page
compares chosen coders over every incident they share.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from covalue.analysis.reliability import (
    Agreement,
    Disagreement,
    FieldReliability,
    disagreements,
    reliability_from_rows,
    rows_from_store,
    training_overlap_warning,
)
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.model.labels import LabelRow
from covalue.web.repository import Member, NotFound, WebError, WebStore

#: Bootstrap resamples of incidents for the intervals (``covalue agree``'s default).
BOOTSTRAP = 1000
SEED = 0
#: Statistic → column heading, in the order ``Agreement.statistics`` gives them.
STATISTIC_LABELS = {
    "percent_agreement": "% agreement",
    "cohen_kappa": "Cohen's κ",
    "fleiss_kappa": "Fleiss' κ",
    "krippendorff_alpha": "Krippendorff's α",
    "brennan_prediger": "Brennan–Prediger κ",
    "perreault_leigh": "Perreault–Leigh Ir",
}


@dataclass(frozen=True)
class Choice:
    """The coders compared and why they were picked (shown on the page)."""

    coders: tuple[str, ...]
    why: str


def shared_pairs(coded: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Every pair of coders with incidents both coded (visible to the member), most shared first."""
    pairs = [
        {"coders": (a, b), "shared": len(coded[a] & coded[b])} for a, b in itertools.combinations(sorted(coded), 2)
    ]
    kept = [p for p in pairs if p["shared"]]
    return sorted(kept, key=lambda p: (-p["shared"], p["coders"]))


def choose(web: WebStore, member: Member, coded: dict[str, set[str]], asked: list[str]) -> Choice | None:
    """The asked coders; else the coders of the latest closed round; else the pair sharing most incidents."""
    if asked:
        wanted = tuple(dict.fromkeys(asked))
        hidden = [c for c in wanted if c not in coded]
        if hidden:
            raise NotFound(f"no visible codings of coder {', '.join(map(repr, hidden))}")
        if len(wanted) < 2:
            raise WebError("choose two or more coders to compare")
        return Choice(wanted, "chosen")
    for view in web.rounds(member):
        in_round = tuple(c for c in view.coders if c in coded)
        if view.status == "closed" and len(in_round) >= 2:
            return Choice(in_round, f"the coders of round {view.name!r}, the latest closed round")
    pairs = shared_pairs(coded)
    if pairs:
        return Choice(pairs[0]["coders"], "the pair of coders sharing most incidents")
    return None


def visible_rows(
    web: WebStore, member: Member, choice: Choice, codebook_pk: int, codebook: Codebook, coded: dict[str, set[str]]
) -> dict[str, dict[str, LabelRow]]:
    """Each coder's label rows (``rows_from_store``) limited to the incidents the member may see coded
    (``coded``: :meth:`WebStore.visible_coded`)."""
    coders = choice.coders
    rows = rows_from_store(web.store, member.project, codebook_pk, list(coders), codebook.dimension_ids)
    return {c: {item: row for item, row in rows[c].items() if item in coded.get(c, set())} for c in coders}


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _statistics(agreement: Agreement) -> list[dict[str, Any]]:
    result = []
    for name, value in agreement.statistics().items():
        low, high = agreement.intervals.get(name, (math.nan, math.nan))
        result.append({"name": name, "value": _number(value), "low": _number(low), "high": _number(high)})
    return result


def _field_rows(codebook: Codebook, name: str, field: FieldReliability, disputed: int) -> list[dict[str, Any]]:
    """The field as coded and, for a hierarchical one, rolled up to its aggregates; per-code rows for multi fields."""
    rows = [
        {
            "field": name,
            "name": codebook.dimension(name).name,
            "multi": field.multi,
            "level": field.level or "as coded",
            "units": field.overall.n_units,
            "statistics": _statistics(field.overall),
            "disagreements": disputed,
            "codes": [
                {
                    "code": code,
                    "name": codebook.code(name, code).code.name if codebook.has_code(name, code) else code,
                    "statistics": _statistics(a),
                }
                for code, a in field.codes.items()
            ],
        }
    ]
    if field.aggregate is not None:
        rows.append(
            {
                "field": name,
                "name": codebook.dimension(name).name,
                "multi": field.multi,
                "level": "aggregate",
                "units": field.aggregate.overall.n_units,
                "statistics": _statistics(field.aggregate.overall),
                "disagreements": None,
                "codes": [],
            }
        )
    return rows


def _selection(web: WebStore, member: Member, asked: list[str]) -> dict[str, Any]:
    codebook_pk, codebook = web.codebook(member.project)
    coded = web.visible_coded(member, codebook_pk)
    choice = choose(web, member, coded, asked)
    return {
        "codebook_pk": codebook_pk,
        "codebook": codebook,
        "coded": coded,
        "coders": sorted(coded),
        "pairs": shared_pairs(coded),
        "choice": choice,
    }


def training_warning(web: WebStore, member: Member, rows: dict[str, dict[str, LabelRow]]) -> str | None:
    """Says so when a machine coder is compared on incidents its model was trained on (fit, not accuracy)."""
    from covalue.coding.training import trained_ids

    compared = set.intersection(*(set(r) for r in rows.values())) if rows else set()
    trained = trained_ids(c for c in web.store.coders(member.project) if c.name in rows)
    return training_overlap_warning(trained, compared)


def reliability_context(web: WebStore, member: Member, asked: list[str]) -> dict[str, Any]:
    """Agreement of the chosen coders per dimension (all statistics, bootstrap intervals), with disagreement counts."""
    context = _selection(web, member, asked)
    context.update(n=0, dropped={}, fields=[], message=None, bootstrap=BOOTSTRAP, seed=SEED, training_warning=None)
    choice: Choice | None = context["choice"]
    if choice is None:
        context["message"] = "No two coders have coded the same incidents (that you may see) yet."
        return context
    codebook = context["codebook"]
    rows = visible_rows(web, member, choice, context["codebook_pk"], codebook, context["coded"])
    try:
        report = reliability_from_rows(rows, codebook, bootstrap=BOOTSTRAP, seed=SEED)
    except (CovalueError, ValueError) as exc:
        context["message"] = str(exc)
        return context
    disputed = Counter(d.field for d in disagreements(rows, codebook, fields=list(report.fields)))
    context.update(
        training_warning=training_warning(web, member, rows),
        n=report.n,
        dropped=report.dropped,
        fields=[row for name, f in report.fields.items() for row in _field_rows(codebook, name, f, disputed[name])],
    )
    return context


def disagreement_context(web: WebStore, member: Member, asked: list[str], field: str | None) -> dict[str, Any]:
    """The incidents on which the chosen coders differ (on ``field``, or on any dimension), grouped by incident."""
    context = _selection(web, member, asked)
    codebook: Codebook = context["codebook"]
    if field and field not in codebook.dimension_ids:
        raise WebError(f"the codebook has no dimension {field!r}", 404)
    choice: Choice | None = context["choice"]
    found: list[Disagreement] = []
    if choice is not None:
        rows = visible_rows(web, member, choice, context["codebook_pk"], codebook, context["coded"])
        try:
            found = disagreements(rows, codebook)
        except (CovalueError, ValueError):
            found = []
    by_item: dict[str, list[Disagreement]] = {}
    for d in found:
        if field is None or d.field == field:
            by_item.setdefault(d.item_id, []).append(d)
    context.update(field=field, by_item=by_item)
    return context
