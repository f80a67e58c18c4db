"""From per-code probabilities to codebook-consistent decisions.

Single-valued dimensions take the most probable code. Multi-valued dimensions take every code
at or above the head's threshold. A dimension with a ``required_when`` rule in the codebook
(``reasons`` is required when ``valence`` is co-destruction or mixed) is emptied when the rule's
condition does not hold and given at least its most probable code when it does — the same
consistency the annotation guide asks of human coders. Decisions are made for a whole batch at
once with array operations, because this runs for every incident of a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covalue.framework.codebook import Codebook


@dataclass(frozen=True)
class DimensionScores:
    """Probabilities of one dimension's codes: (k,) for one incident or (n, k) for a batch."""

    classes: list[str]
    probabilities: np.ndarray
    multi: bool
    threshold: float = 0.5


def decode_batch(codebook: Codebook, scores: dict[str, DimensionScores]) -> dict[str, np.ndarray]:
    """Boolean (n, k) masks of chosen codes per dimension."""
    chosen: dict[str, np.ndarray] = {}
    for dimension in _dependency_order(codebook, scores):
        item = scores[dimension]
        probabilities = np.atleast_2d(item.probabilities)
        best = _one_hot(probabilities.argmax(axis=1), probabilities.shape[1])
        mask = probabilities >= item.threshold if item.multi else best
        rule = codebook.dimension(dimension).required_when
        if rule is not None and rule.dimension in chosen:
            wanted = [
                scores[rule.dimension].classes.index(c) for c in rule.codes if c in scores[rule.dimension].classes
            ]
            condition = chosen[rule.dimension][:, wanted].any(axis=1)
            mask = np.where(condition[:, None], mask | (best & ~mask.any(axis=1, keepdims=True)), False)
        chosen[dimension] = mask
    return chosen


def all_decisions(
    scores: dict[str, DimensionScores], masks: dict[str, np.ndarray]
) -> list[dict[str, list[tuple[str, float]]]]:
    """Every incident's (code, probability) pairs per dimension, most probable first."""
    n = next(iter(masks.values())).shape[0] if masks else 0
    result: list[dict[str, list[tuple[str, float]]]] = [{} for _ in range(n)]
    for dimension, mask in masks.items():
        classes = scores[dimension].classes
        probabilities = np.atleast_2d(scores[dimension].probabilities)
        rows, cols = np.nonzero(mask)
        chosen = probabilities[rows, cols]
        order = np.lexsort((-chosen, rows))
        for decisions in result:
            decisions[dimension] = []
        for row, col, probability in zip(
            rows[order].tolist(), cols[order].tolist(), chosen[order].tolist(), strict=True
        ):
            result[row][dimension].append((classes[col], probability))
    return result


def decode(codebook: Codebook, scores: dict[str, DimensionScores]) -> dict[str, list[tuple[str, float]]]:
    """Chosen (code, probability) pairs per dimension for one incident."""
    return all_decisions(scores, decode_batch(codebook, scores))[0]


def _one_hot(index: np.ndarray, k: int) -> np.ndarray:
    mask = np.zeros((len(index), k), dtype=bool)
    mask[np.arange(len(index)), index] = True
    return mask


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
