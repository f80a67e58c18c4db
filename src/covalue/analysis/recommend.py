"""Which reasons to fix first: reasons ranked by their share of co-destruction, with actions.

A manager reading a report wants the few reasons that account for most of the damage and what
the literature says to do about each. The ranking counts co-destruction incidents (by default
valence ``co_destruction`` or ``mixed``) that name the reason, at the aggregate level of the
Gioia structure when the codebook has one; an incident naming two reasons counts for both, so
shares can add up to more than 100 %.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from covalue.framework.codebook import Codebook
from covalue.framework.recommendations import RecommendationSet, citations

#: Columns of :func:`rank_reasons`, in order.
RANK_COLUMNS = (
    "rank",
    "reason",
    "name",
    "incidents",
    "share_of_co_destruction",
    "actions",
    "sources",
)


def reason_level(codebook: Codebook, dimension: str) -> str | None:
    """The level reasons are ranked at: ``aggregate`` when the dimension has one, else as coded."""
    return "aggregate" if "aggregate" in codebook.levels(dimension) else None


def destructive_mask(frame: pd.DataFrame, valence: str, negative: Sequence[str]) -> pd.Series:
    """Rows whose valence is one of the co-destruction codes."""
    if valence not in frame.columns:
        raise KeyError(f"the frame has no {valence!r} column; cannot tell co-destruction incidents apart")
    return frame[valence].isin(list(negative))


def reason_counts(
    frame: pd.DataFrame,
    codebook: Codebook,
    *,
    dimension: str = "reasons",
    valence: str = "valence",
    negative: Sequence[str] = ("co_destruction", "mixed"),
) -> tuple[pd.Series, int]:
    """Co-destruction incidents per reason (rolled up) and the number of co-destruction incidents."""
    destructive = frame.loc[destructive_mask(frame, valence, negative), dimension]
    level = reason_level(codebook, dimension)
    counts: dict[str, int] = {}
    for codes in destructive:
        rolled = {codebook.roll_up(dimension, c, level) if level else c for c in codes}
        for reason in rolled - {None}:
            counts[reason] = counts.get(reason, 0) + 1
    order = [c.id for c in codebook.codes(dimension) if level is None or c.code.level == level]
    series = pd.Series({reason: counts.get(reason, 0) for reason in order}, dtype="int64", name="incidents")
    return series, len(destructive)


def rank_reasons(
    frame: pd.DataFrame,
    codebook: Codebook,
    recommendations: RecommendationSet | None,
    *,
    valence: str = "valence",
    negative: Sequence[str] = ("co_destruction", "mixed"),
) -> pd.DataFrame:
    """Reasons ranked by co-destruction incidents (ties in codebook order), with their actions.

    ``actions`` holds the :class:`~covalue.framework.recommendations.Action` tuples and
    ``sources`` the full citations they cite, so a report can print both.
    """
    dimension = recommendations.dimension if recommendations is not None else "reasons"
    counts, n_destructive = reason_counts(frame, codebook, dimension=dimension, valence=valence, negative=negative)
    cited = citations(recommendations, codebook) if recommendations is not None else {}
    ranked = counts.sort_values(ascending=False, kind="stable")
    rows = []
    for rank, (reason, n) in enumerate(ranked.items(), start=1):
        actions = recommendations.actions(reason) if recommendations is not None else ()
        source_ids = sorted({s for action in actions for s in action.sources})
        rows.append(
            {
                "rank": rank,
                "reason": reason,
                "name": codebook.code(dimension, reason).code.name,
                "incidents": int(n),
                "share_of_co_destruction": n / n_destructive if n_destructive else 0.0,
                "actions": actions,
                "sources": tuple(cited[s] for s in source_ids if s in cited),
            }
        )
    return pd.DataFrame(rows, columns=list(RANK_COLUMNS))


def flat_recommendations(ranked: pd.DataFrame) -> pd.DataFrame:
    """One row per (reason, action) with plain-text columns, for spreadsheets."""
    rows = [
        {
            "rank": row.rank,
            "reason": row.reason,
            "name": row.name,
            "incidents": row.incidents,
            "share_of_co_destruction": row.share_of_co_destruction,
            "action": action.title,
            "what_to_do": action.text,
            "sources": "; ".join(action.sources),
        }
        for row in ranked.itertuples(index=False)
        for action in (row.actions or ())
    ]
    columns = ["rank", "reason", "name", "incidents", "share_of_co_destruction", "action", "what_to_do", "sources"]
    return pd.DataFrame(rows, columns=columns)
