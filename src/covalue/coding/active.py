"""Active learning: which uncoded incidents a person should code next.

Most informative first: an incident scores high when the current model is unsure about it
(small margin between the two best codes of a single-valued dimension; probabilities near the
decision threshold for multi-valued ones), averaged over dimensions. To avoid a queue of ten
near-identical tweets, picks are made greedily with maximal marginal relevance: each next pick
trades its uncertainty against its similarity to what is already picked. Without a trained
model, the queue is built for coverage alone (farthest-first over the text vectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from covalue.coding.encoders import Encoder, make_encoder
from covalue.coding.supervised import SupervisedCoder


@dataclass(frozen=True)
class Suggestion:
    incident_id: str
    uncertainty: float
    reason: str


def uncertainty(
    coder: SupervisedCoder, texts: Sequence[str], sources: Sequence[str | None] | None = None
) -> np.ndarray:
    """Per-incident uncertainty in [0, 1], averaged over the coder's dimensions."""
    probabilities = coder.predict_proba(texts, sources)
    parts = []
    for dimension, head in coder.heads.items():
        p = probabilities[dimension]
        if head.multi:
            distance = np.abs(p - head.threshold) / np.maximum(head.threshold, 1 - head.threshold)
            parts.append(1.0 - distance.min(axis=1))
        else:
            top = np.sort(p, axis=1)[:, -2:]
            parts.append(1.0 - (top[:, 1] - top[:, 0]))
    return np.mean(parts, axis=0)


def suggest(
    texts: Sequence[str],
    ids: Sequence[str],
    *,
    coder: SupervisedCoder | None = None,
    sources: Sequence[str | None] | None = None,
    k: int = 20,
    diversity: float = 0.3,
    encoder: Encoder | None = None,
) -> list[Suggestion]:
    """The ``k`` incidents to code next, most informative first (deterministic)."""
    if not texts:
        return []
    vectors = (encoder or make_encoder("static-minilm")).encode(texts)
    if coder is None:
        return _farthest_first(vectors, ids, k)
    scores = uncertainty(coder, texts, sources)
    chosen: list[int] = []
    closest = np.zeros(len(texts))
    for _ in range(min(k, len(texts))):
        value = (1 - diversity) * scores - diversity * closest
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        closest = np.maximum(closest, vectors @ vectors[pick])
    return [Suggestion(str(ids[j]), float(scores[j]), "model uncertainty") for j in chosen]


def _farthest_first(vectors: np.ndarray, ids: Sequence[str], k: int) -> list[Suggestion]:
    centre = vectors.mean(axis=0)
    first = int(np.argmax(vectors @ centre))  # the most typical incident starts the queue
    chosen = [first]
    distance = 1 - vectors @ vectors[first]
    while len(chosen) < min(k, len(vectors)):
        distance[chosen] = -np.inf
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, 1 - vectors @ vectors[pick])
    return [Suggestion(str(ids[j]), 1.0, "coverage (no trained model yet)") for j in chosen]
