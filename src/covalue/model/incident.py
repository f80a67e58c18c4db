"""Plain domain objects. No database or file knowledge lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RELATIONSHIP_TYPES = ("B2C", "B2B", "B2G", "G2C")
CoderKind = Literal["human", "machine"]


@dataclass(frozen=True)
class Incident:
    """One critical incident: a complaint, review, thread or interview excerpt.

    ``external_id`` is the id the user's data gives it (unique within a project);
    ``thread_id`` and ``thread_position`` order incidents of one conversation, and
    ``customer_id`` groups incidents of one customer or relationship over time, which is
    what sequence analyses (loss spirals, recovery) need.
    """

    external_id: str
    text: str
    source: str | None = None
    relationship_type: str | None = None
    channel: str | None = None
    occurred_at: datetime | None = None
    customer_id: str | None = None
    thread_id: str | None = None
    thread_position: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.relationship_type is not None and self.relationship_type not in RELATIONSHIP_TYPES:
            raise ValueError(
                f"relationship type {self.relationship_type!r} is not one of {', '.join(RELATIONSHIP_TYPES)}"
            )


@dataclass(frozen=True)
class Coder:
    """Who coded: a person, or a machine coder with the model and version that produced the codes."""

    name: str
    kind: CoderKind = "human"
    model: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Span:
    """A stretch of incident text in Unicode code points, half-open ``[start, end)``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end <= self.start:
            raise ValueError(f"span [{self.start}, {self.end}) is empty or negative")

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Coding:
    """One code applied to one incident by one coder, on the whole incident or on a span.

    ``evidence`` lists the spans that support an incident-level code (a machine coder's
    reasons for its choice); ``span`` is set instead when the code is applied to a span.
    """

    incident_id: str
    dimension: str
    code_id: str
    coder: str
    span: Span | None = None
    confidence: float | None = None
    evidence: tuple[Span, ...] = ()
    round: str | None = None
    memo: str | None = None
    codebook: str | None = None  # ``id@version``; filled when read from the store

    def __post_init__(self) -> None:
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")
