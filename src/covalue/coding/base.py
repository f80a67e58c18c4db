"""What every coder returns, and the interface engines and interfaces rely on.

A coder follows scikit-learn's estimator shape: ``fit(texts, labels)`` (optional for zero-shot
coders), ``predict(texts) -> list[IncidentCoding]`` and, where it has scores,
``predict_proba(texts) -> {dimension: array}``. Inputs are plain sequences of strings (and,
optionally, sources); labels are mappings from dimension id to code ids, as in
:class:`covalue.model.labels.LabelRow.values`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from covalue.framework.codebook import Codebook
from covalue.model.incident import Coder as CoderInfo
from covalue.model.incident import Coding, Span
from covalue.model.labels import LabelRow

Labels = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class CodeDecision:
    """One chosen code with its calibrated confidence and the text that supports it."""

    code: str
    confidence: float
    evidence: tuple[Span, ...] = ()


@dataclass(frozen=True)
class IncidentCoding:
    """A coder's decisions for one incident: dimension -> chosen codes (possibly none)."""

    incident_id: str
    decisions: dict[str, tuple[CodeDecision, ...]] = field(default_factory=dict)

    def codes(self, dimension: str) -> tuple[str, ...]:
        return tuple(d.code for d in self.decisions.get(dimension, ()))

    def to_label_row(self) -> LabelRow:
        return LabelRow(item_id=self.incident_id, values={dim: self.codes(dim) for dim in self.decisions})

    def to_codings(self, coder: str, codebook_key: str | None = None) -> list[Coding]:
        return [
            Coding(
                incident_id=self.incident_id,
                dimension=dimension,
                code_id=decision.code,
                coder=coder,
                confidence=round(float(decision.confidence), 6),
                evidence=decision.evidence,
                codebook=codebook_key,
            )
            for dimension, decisions in self.decisions.items()
            for decision in decisions
        ]


@runtime_checkable
class IncidentCoder(Protocol):
    """The contract engines call: a named, versioned coder for one codebook."""

    name: str
    version: str
    codebook: Codebook

    def predict(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[IncidentCoding]: ...


def coder_info(coder: IncidentCoder, model: str) -> CoderInfo:
    """How a machine coder is recorded in a project: its name, model and version."""
    return CoderInfo(name=coder.name, kind="machine", model=model, version=coder.version)


def default_ids(n: int, ids: Sequence[str] | None) -> list[str]:
    if ids is None:
        return [str(k) for k in range(n)]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} texts")
    return [str(i) for i in ids]
