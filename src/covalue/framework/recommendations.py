"""Managerial recommendations as data: actions per reason for value co-destruction, with sources.

Recommendations travel beside a codebook (``recommendation_sets/<codebook id>.yaml``) rather than
inside it, so that editing advice never changes a codebook's content hash (coded projects and
trained models pin that hash). They are checked against the codebook on load: every reason they
address must be a code of the codebook, and every source they cite must be declared in the
codebook or in the recommendations file itself.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import field_validator

from covalue.errors import CodebookError
from covalue.framework.codebook import Codebook
from covalue.framework.loader import parse_yaml_model
from covalue.framework.schema import Source, _check_identifier, _Frozen

BUNDLED_PACKAGE = "covalue.framework.recommendation_sets"


class Action(_Frozen):
    """One thing a manager can do about a reason, and the papers that propose it."""

    title: str
    text: str
    sources: tuple[str, ...] = ()


class RecommendationSet(_Frozen):
    """Actions per code of one dimension (the reasons) of one codebook."""

    codebook: str
    dimension: str = "reasons"
    sources: tuple[Source, ...] = ()
    reasons: dict[str, tuple[Action, ...]]

    _check_codebook = field_validator("codebook")(_check_identifier)

    def actions(self, reason: str) -> tuple[Action, ...]:
        return self.reasons.get(reason, ())


def bundled_recommendations(codebook: Codebook) -> RecommendationSet | None:
    """The recommendations shipped for a bundled codebook, or None when there are none."""
    folder = resources.files(BUNDLED_PACKAGE)
    entry = folder.joinpath(f"{codebook.id}.yaml")
    if not entry.is_file():
        return None
    return parse_recommendations(entry.read_text(encoding="utf-8"), f"recommendations/{codebook.id}.yaml", codebook)


def load_recommendations(path: str | Path, codebook: Codebook) -> RecommendationSet:
    """Recommendations from a user's YAML file, checked against ``codebook``."""
    path = Path(path)
    if not path.is_file():
        raise CodebookError([f"{path}: no such recommendations file"])
    return parse_recommendations(path.read_text(encoding="utf-8"), str(path), codebook)


def parse_recommendations(text: str, label: str, codebook: Codebook) -> RecommendationSet:
    found = parse_yaml_model(text, label, RecommendationSet, "a recommendations file")
    problems = _problems(found, codebook)
    if problems:
        raise CodebookError([f"{label}: {p}" for p in problems])
    return found


def _problems(found: RecommendationSet, codebook: Codebook) -> list[str]:
    if found.codebook != codebook.id:
        return [f"written for codebook {found.codebook!r}, not {codebook.id!r}"]
    if found.dimension not in codebook.dimension_ids:
        return [f"dimension {found.dimension!r} is not in codebook {codebook.key}"]
    known_sources = {s.id for s in codebook.spec.sources} | {s.id for s in found.sources}
    problems = []
    for reason, actions in found.reasons.items():
        if not codebook.has_code(found.dimension, reason):
            problems.append(f"reasons.{reason}: not a code of dimension {found.dimension!r}")
        for index, action in enumerate(actions):
            problems.extend(
                f"reasons.{reason}[{index}]: cites unknown source {source!r}"
                for source in action.sources
                if source not in known_sources
            )
    return problems


def citations(found: RecommendationSet, codebook: Codebook) -> dict[str, str]:
    """Source id → full citation, for every source the codebook or the recommendations declare."""
    return {s.id: s.citation for s in (*codebook.spec.sources, *found.sources)}
