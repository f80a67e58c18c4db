"""From per-code probabilities to codebook-consistent decisions.

Single-valued dimensions take the most probable code. Multi-valued dimensions take every code
at or above the head's threshold. A dimension with a ``required_when`` rule in the codebook
(``reasons`` is required when ``valence`` is co-destruction or mixed) is emptied when the rule's
condition does not hold and given at least its most probable code when it does — the same
consistency the annotation guide asks of human coders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covalue.framework.codebook import Codebook


@dataclass(frozen=True)
class DimensionScores:
    """Probabilities of one dimension's codes for one incident."""

    classes: list[str]
    probabilities: np.ndarray
    multi: bool
    threshold: float = 0.5


def decode(codebook: Codebook, scores: dict[str, DimensionScores]) -> dict[str, list[tuple[str, float]]]:
    """Chosen (code, probability) pairs per dimension, most probable first."""
    chosen: dict[str, list[tuple[str, float]]] = {}
    for dimension in _dependency_order(codebook, scores):
        dimension_scores = scores[dimension]
        picks = _pick(dimension_scores)
        rule = codebook.dimension(dimension).required_when
        if rule is not None and rule.dimension in chosen:
            condition = {code for code, _ in chosen[rule.dimension]} & set(rule.codes)
            if not condition:
                picks = []
            elif not picks:
                picks = _top(dimension_scores, 1)
        chosen[dimension] = picks
    return chosen


def _pick(scores: DimensionScores) -> list[tuple[str, float]]:
    if not scores.multi:
        return _top(scores, 1)
    order = np.argsort(-scores.probabilities, kind="stable")
    return [
        (scores.classes[j], float(scores.probabilities[j]))
        for j in order
        if scores.probabilities[j] >= scores.threshold
    ]


def _top(scores: DimensionScores, n: int) -> list[tuple[str, float]]:
    order = np.argsort(-scores.probabilities, kind="stable")[:n]
    return [(scores.classes[j], float(scores.probabilities[j])) for j in order]


def _dependency_order(codebook: Codebook, scores: dict[str, DimensionScores]) -> list[str]:
    """Codebook order, except that a dimension comes after the one its rule depends on."""
    ordered: list[str] = []

    def visit(dimension: str, path: tuple[str, ...]) -> None:
        if dimension in ordered or dimension not in scores or dimension in path:
            return
        rule = codebook.dimension(dimension).required_when
        if rule is not None:
            visit(rule.dimension, (*path, dimension))
        ordered.append(dimension)

    for dimension in codebook.dimension_ids:
        visit(dimension, ())
    return ordered
