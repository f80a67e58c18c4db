"""Automatic-coder suggestions for one incident, with the evidence spans that support them.

Suggestions come from the project's stored machine coder when it has coded the incident
(``covalue code`` was run: same numbers the reports use); otherwise the bundled fast model
predicts on the fly when it was trained for the project's codebook. Suggestions are read
only: accepting one stores a coding of the member's own coder (see ``api``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.store.tables import CoderRow, CodingRow
from covalue.web.repository import Member, WebStore

DEFAULT_MODEL = "fast"


@dataclass(frozen=True)
class Suggestion:
    dimension: str
    code_id: str
    confidence: float | None
    evidence: list[list[int]]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Suggester:
    """Loads the default model once, on first use, and serializes predictions (it is not thread-safe)."""

    def __init__(self, model: str | None = DEFAULT_MODEL) -> None:
        self.model_name = model
        self._model: Any = None
        self._failed = False
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None and not self._failed and self.model_name:
            from covalue.coding.training import load_model

            try:
                self._model = load_model(self.model_name)
            except (CovalueError, OSError):
                self._failed = True
        return self._model

    def for_incident(self, web: WebStore, member: Member, external_id: str) -> list[Suggestion]:
        codebook_pk, codebook = web.codebook(member.project)
        stored = self._stored(web, member, external_id, codebook_pk)
        if stored:
            return stored
        return self._predicted(web, member, external_id, codebook)

    @staticmethod
    def _stored(web: WebStore, member: Member, external_id: str, codebook_pk: int) -> list[Suggestion]:
        incident = web.incident_row(member, external_id)
        with web.reading() as session:
            rows = session.execute(
                select(CodingRow, CoderRow.name)
                .join(CoderRow, CodingRow.coder_id == CoderRow.id)
                .where(
                    CodingRow.incident_id == incident.id,
                    CodingRow.codebook_pk == codebook_pk,
                    CoderRow.kind == "machine",
                    CodingRow.start.is_(None),
                )
                .order_by(CoderRow.id, CodingRow.id)
            ).all()
        if not rows:
            return []
        first = rows[0][1]  # one machine coder is enough; the first one attached wins
        return [
            Suggestion(r.dimension, r.code_id, r.confidence, [list(s) for s in r.evidence or []], f"coder {name}")
            for r, name in rows
            if name == first
        ]

    def _predicted(self, web: WebStore, member: Member, external_id: str, codebook: Codebook) -> list[Suggestion]:
        with self._lock:
            model = self._load()
            if model is None or model.codebook.key != codebook.key:
                return []
            incident = web.incident_row(member, external_id)
            (coding,) = model.predict([incident.text], [incident.source], ids=[external_id])
        return [
            Suggestion(
                dimension,
                decision.code,
                round(float(decision.confidence), 3),
                [[s.start, s.end] for s in decision.evidence],
                f"model {model.name}",
            )
            for dimension, decisions in coding.decisions.items()
            for decision in decisions
        ]
