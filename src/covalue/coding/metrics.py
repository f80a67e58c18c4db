"""Evaluation of a coder against reference labels, field by field.

Single-valued fields: accuracy, Cohen's κ, macro-F1 (over the codes seen in either file) and a
confusion matrix. Multi-valued fields: micro- and macro-F1 over code-by-incident decisions, with
precision, recall, F1 and support per code; ``reasons`` is also scored after rolling themes up to
their aggregate dimensions. An empty cell and ``none`` mean the same, as in the annotation guide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from covalue.framework.codebook import Codebook
from covalue.model.labels import LabelRow


@dataclass(frozen=True)
class CodeScore:
    """Per-code counts and the scores derived from them."""

    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.tp, self.fp, self.fn)

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@dataclass
class FieldScore:
    multi: bool
    summary: dict[str, float | None]
    codes: dict[str, CodeScore] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] | None = None
    aggregate_codes: dict[str, CodeScore] = field(default_factory=dict)


@dataclass
class Evaluation:
    n: int
    fields: dict[str, FieldScore]
    missing_in_prediction: list[str] = field(default_factory=list)
    extra_in_prediction: list[str] = field(default_factory=list)

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """The ``--json`` object: ``{"n", "fields": {field: {metric: value}}}`` (+ details)."""
        result: dict[str, Any] = {
            "n": self.n,
            "fields": {name: score.summary for name, score in self.fields.items()},
        }
        if details:
            result["details"] = {
                name: {
                    "codes": {code: s.to_dict() for code, s in score.codes.items()},
                    **({"confusion": score.confusion} if score.confusion is not None else {}),
                    **(
                        {"aggregate_codes": {c: s.to_dict() for c, s in score.aggregate_codes.items()}}
                        if score.aggregate_codes
                        else {}
                    ),
                }
                for name, score in self.fields.items()
            }
            result["missing_in_prediction"] = self.missing_in_prediction
        return result


def evaluate(
    gold: Mapping[str, LabelRow],
    predicted: Mapping[str, LabelRow],
    codebook: Codebook,
    fields: Sequence[str] | None = None,
) -> Evaluation:
    """Score ``predicted`` against ``gold`` on the items both contain."""
    items = [item for item in gold if item in predicted]
    names = (
        list(fields)
        if fields is not None
        else [d for d in codebook.dimension_ids if any(d in row.values for row in gold.values())]
    )
    scores: dict[str, FieldScore] = {}
    for name in names:
        truth = [gold[i].values.get(name, ()) for i in items]
        guess = [predicted[i].values.get(name, ()) for i in items]
        if codebook.is_multi(name):
            scores[name] = _multi(truth, guess)
            if codebook.levels(name)[:1] == ["aggregate"] and "theme" in codebook.levels(name):
                _add_aggregate(scores[name], codebook, name, truth, guess)
        else:
            scores[name] = _single(truth, guess)
    return Evaluation(
        n=len(items),
        fields=scores,
        missing_in_prediction=[i for i in gold if i not in predicted],
        extra_in_prediction=[i for i in predicted if i not in gold],
    )


# -- single-valued ------------------------------------------------------------------------------
def _single(truth: Sequence[Sequence[str]], guess: Sequence[Sequence[str]]) -> FieldScore:
    a = [_one(v) for v in truth]
    b = [_one(v) for v in guess]
    labels = sorted(set(a) | set(b))
    index = {label: k for k, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for x, y in zip(a, b, strict=True):
        matrix[index[x], index[y]] += 1
    n = matrix.sum()
    accuracy = float(np.trace(matrix) / n) if n else None
    codes = {
        label: CodeScore(int(matrix[k, k]), int(matrix[:, k].sum() - matrix[k, k]), int(matrix[k].sum() - matrix[k, k]))
        for k, label in enumerate(labels)
    }
    return FieldScore(
        multi=False,
        summary={
            "accuracy": accuracy,
            "kappa": cohen_kappa_from_matrix(matrix),
            "macro_f1": _mean([s.f1 for s in codes.values()]),
        },
        codes=codes,
        confusion={labels[r]: {labels[c]: int(matrix[r, c]) for c in range(len(labels))} for r in range(len(labels))},
    )


def _one(values: Sequence[str]) -> str:
    return values[0] if values else "(none)"


def cohen_kappa_from_matrix(matrix: np.ndarray) -> float | None:
    """κ = (Po − Pe) / (1 − Pe) with Pe from the two coders' own marginals."""
    n = matrix.sum()
    if n == 0:
        return None
    observed = np.trace(matrix) / n
    expected = float((matrix.sum(axis=1) / n) @ (matrix.sum(axis=0) / n))
    if expected == 1.0:
        return 1.0 if observed == 1.0 else None
    return float((observed - expected) / (1 - expected))


# -- multi-valued -------------------------------------------------------------------------------
def _multi(truth: Sequence[Iterable[str]], guess: Sequence[Iterable[str]]) -> FieldScore:
    codes = _code_scores([set(t) for t in truth], [set(g) for g in guess])
    micro = _f1(
        sum(s.tp for s in codes.values()),
        sum(s.fp for s in codes.values()),
        sum(s.fn for s in codes.values()),
    )
    return FieldScore(
        multi=True,
        summary={"micro_f1": micro, "macro_f1": _mean([s.f1 for s in codes.values()])},
        codes=codes,
    )


def _add_aggregate(
    score: FieldScore,
    codebook: Codebook,
    name: str,
    truth: Sequence[Sequence[str]],
    guess: Sequence[Sequence[str]],
) -> None:
    def up(values: Sequence[str]) -> set[str]:
        return {codebook.roll_up(name, v, "aggregate") or v for v in values}

    aggregate = _multi([up(t) for t in truth], [up(g) for g in guess])
    score.summary["aggregate_micro_f1"] = aggregate.summary["micro_f1"]
    score.summary["aggregate_macro_f1"] = aggregate.summary["macro_f1"]
    score.aggregate_codes = aggregate.codes


def _code_scores(truth: list[set[str]], guess: list[set[str]]) -> dict[str, CodeScore]:
    labels = sorted(set().union(*truth, *guess)) if truth else []
    scores = {}
    for label in labels:
        tp = sum(1 for t, g in zip(truth, guess, strict=True) if label in t and label in g)
        fp = sum(1 for t, g in zip(truth, guess, strict=True) if label not in t and label in g)
        fn = sum(1 for t, g in zip(truth, guess, strict=True) if label in t and label not in g)
        scores[label] = CodeScore(tp, fp, fn)
    return scores


def _f1(tp: float, fp: float, fn: float) -> float:
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 1.0


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
