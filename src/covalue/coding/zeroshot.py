"""Coders that need no labels: keyword rules from indicators, and embedding similarity.

Both read only the codebook (names, definitions, indicators, examples), so they work for any
valid codebook from the first minute; they are also the baselines the supervised coder is
measured against. Their confidences are normalised scores, not calibrated probabilities.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from covalue.coding.base import CodeDecision, IncidentCoding, default_ids
from covalue.coding.encoders import Encoder, make_encoder
from covalue.coding.text import sentence_spans
from covalue.framework.codebook import Codebook, FlatCode
from covalue.framework.loader import load_codebook
from covalue.model.incident import Span

_WORD = re.compile(r"[a-z][a-z']+")
_STOP = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your customer provider service text""".split()  # noqa: SIM905
)


def _stems(text: str) -> set[str]:
    """Lower-cased content words cut to five letters: a crude stemmer that needs no data."""
    return {word[:5] for word in _WORD.findall(text.lower()) if word not in _STOP and len(word) > 2}


class KeywordCoder:
    """Scores each code by how many of its indicator words a sentence contains."""

    def __init__(self, codebook: Codebook | str = "vcd", *, threshold: float = 0.34) -> None:
        self.codebook = load_codebook(codebook) if isinstance(codebook, str) else codebook
        self.name = "covalue-keywords"
        self.version = "1"
        self.threshold = threshold
        self._cues = {
            dimension: [(code, self._code_cues(code)) for code in self.codebook.codes(dimension, codable_only=True)]
            for dimension in self.codebook.dimension_ids
        }

    @staticmethod
    def _code_cues(code: FlatCode) -> list[set[str]]:
        phrases = [code.code.name, *code.code.indicators]
        return [cue for cue in (_stems(p) for p in phrases) if cue]

    def predict(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[IncidentCoding]:
        identifiers = default_ids(len(texts), ids)
        return [IncidentCoding(identifiers[k], self._code_one(text)) for k, text in enumerate(texts)]

    def _code_one(self, text: str) -> dict[str, tuple[CodeDecision, ...]]:
        spans = sentence_spans(text) or [Span(0, max(len(text), 1))]
        sentence_stems = [_stems(text[s.start : s.end]) for s in spans]
        decisions: dict[str, tuple[CodeDecision, ...]] = {}
        for dimension, codes in self._cues.items():
            scored = [(code.id, *self._score(cues, sentence_stems)) for code, cues in codes]
            if self.codebook.is_multi(dimension):
                chosen = [item for item in scored if item[1] >= self.threshold]
            else:
                chosen = [max(scored, key=lambda item: item[1])]  # ties: codebook order
            decisions[dimension] = tuple(
                CodeDecision(code, min(score, 1.0), (spans[best],) if score > 0 else ())
                for code, score, best in sorted(chosen, key=lambda item: -item[1])
            )
        return decisions

    @staticmethod
    def _score(cues: list[set[str]], sentences: list[set[str]]) -> tuple[float, int]:
        """Best share of one cue phrase's words found in one sentence, and that sentence."""
        best, where = 0.0, 0
        for index, words in enumerate(sentences):
            for cue in cues:
                share = len(cue & words) / len(cue)
                if share > best:
                    best, where = share, index
        return best, where


class SimilarityCoder:
    """Cosine similarity between a text and each code's description, embedded alike.

    A code is described by its name, definition, indicators and examples. Single-valued
    dimensions take the most similar code; multi-valued ones take codes whose similarity is
    within ``margin`` of the best and above ``floor``.
    """

    def __init__(
        self,
        codebook: Codebook | str = "vcd",
        *,
        encoder: Encoder | str = "static-minilm",
        margin: float = 0.03,
        floor: float = 0.25,
    ) -> None:
        self.codebook = load_codebook(codebook) if isinstance(codebook, str) else codebook
        self.encoder = make_encoder(encoder) if isinstance(encoder, str) else encoder
        self.name = f"covalue-similarity-{self.encoder.name}"
        self.version = "1"
        self.margin = margin
        self.floor = floor
        self._prototypes: dict[str, tuple[list[str], np.ndarray]] = {}
        for dimension in self.codebook.dimension_ids:
            codes = self.codebook.codes(dimension, codable_only=True)
            descriptions = [
                " ".join([c.code.name, c.code.definition, *c.code.indicators, *c.code.examples]) for c in codes
            ]
            self._prototypes[dimension] = ([c.id for c in codes], self.encoder.encode(descriptions))

    def predict(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[IncidentCoding]:
        identifiers = default_ids(len(texts), ids)
        vectors = self.encoder.encode(texts)
        result = []
        for row, text in enumerate(texts):
            spans = sentence_spans(text)
            sentences = self.encoder.encode([text[s.start : s.end] for s in spans]) if spans else None
            decisions = {}
            for dimension, (codes, prototypes) in self._prototypes.items():
                similarity = prototypes @ vectors[row]
                order = np.argsort(-similarity, kind="stable")
                if self.codebook.is_multi(dimension):
                    top = similarity[order[0]]
                    chosen = [j for j in order if similarity[j] >= max(top - self.margin, self.floor)]
                else:
                    chosen = [order[0]]
                decisions[dimension] = tuple(
                    CodeDecision(codes[j], float(max(similarity[j], 0.0)), _best_span(spans, sentences, prototypes[j]))
                    for j in chosen
                )
            result.append(IncidentCoding(identifiers[row], decisions))
        return result


def _best_span(spans: list[Span], sentences: np.ndarray | None, prototype: np.ndarray) -> tuple[Span, ...]:
    if sentences is None:
        return ()
    return (spans[int(np.argmax(sentences @ prototype))],)
