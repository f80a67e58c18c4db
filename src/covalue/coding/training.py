"""Training data from a project's human codings, and the bundled default models.

A team's own coding is the best training data covalue can get. For each incident the label
row is taken from the first coder (in the order given) who coded it; the default order puts
an adjudicated ``consensus`` coder first, then every other human coder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from covalue.coding.supervised import SupervisedCoder, read_training_ids
from covalue.errors import CovalueError
from covalue.model.incident import Coder
from covalue.model.labels import LabelRow
from covalue.store.repository import ProjectInfo, Store

CONSENSUS = "consensus"
MODELS_PACKAGE = "covalue.coding.resources.models"
BUNDLED_MODELS = {"fast": "vcd-fast", "accurate": "vcd-accurate"}


@dataclass
class TrainingSet:
    ids: list[str]
    texts: list[str]
    sources: list[str | None]
    labels: list[dict[str, tuple[str, ...]]]
    coders: list[str]


def training_set(store: Store, project: ProjectInfo, codebook_key: str, coders: list[str] | None = None) -> TrainingSet:
    """Human label rows of a project under one codebook (one row per incident)."""
    codebook_pk, codebook = store.codebook(project, codebook_key)
    known = store.coders(project)
    humans = [c.name for c in known if c.kind == "human"]
    order = coders or sorted(humans, key=lambda name: (name != CONSENSUS, humans.index(name)))
    unknown = [name for name in order if name not in {c.name for c in known}]
    if unknown:
        raise CovalueError(f"no coder {unknown[0]!r} in project {project.name!r}")
    rows: dict[str, LabelRow] = {}
    for name in order:
        for item_id, codings in store.iter_codings_by_incident(project, coder=name, codebook_pk=codebook_pk):
            if item_id in rows:
                continue
            values: dict[str, list[str]] = {d: [] for d in codebook.dimension_ids}
            for coding in codings:
                if coding.span is None and coding.code_id not in values[coding.dimension]:
                    values[coding.dimension].append(coding.code_id)
            rows[item_id] = LabelRow(item_id, {d: tuple(v) for d, v in values.items() if v or codebook.is_multi(d)})
    if not rows:
        raise CovalueError(f"no human codings under {codebook_key!r} in project {project.name!r} to learn from")
    data = TrainingSet([], [], [], [], order)
    for incident in store.iter_incidents(project):  # one streaming pass, not one query per incident
        row = rows.get(incident.external_id)
        if row is None:
            continue
        data.ids.append(incident.external_id)
        data.texts.append(incident.text)
        data.sources.append(incident.source)
        data.labels.append(dict(row.values))
    return data


def bundled_model_path(name: str) -> Path:
    """Folder of a model shipped with covalue: ``fast`` or ``accurate``."""
    folder = BUNDLED_MODELS.get(name, name)
    path = Path(str(resources.files(MODELS_PACKAGE).joinpath(folder)))
    if not (path / "manifest.json").exists():
        raise CovalueError(f"no bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}")
    return path


def model_path(name_or_path: str | Path) -> Path:
    """The folder of a model: a bundled one by name (``fast``, ``accurate``) or a folder path."""
    path = Path(name_or_path)
    if not path.exists() and str(name_or_path) in BUNDLED_MODELS:
        path = bundled_model_path(str(name_or_path))
    return path


def load_model(name_or_path: str | Path) -> SupervisedCoder:
    """A trained model: a bundled one by name (``fast``, ``accurate``) or a folder."""
    return SupervisedCoder.load(model_path(name_or_path))


def training_ids_of(coder: Coder) -> frozenset[str] | None:
    """Ids a machine coder's model was trained on, when its model is a saved supervised model here."""
    if coder.kind != "machine" or not coder.model or coder.model.startswith(("llm:", "keywords", "similarity")):
        return None
    try:
        return read_training_ids(model_path(coder.model.removeprefix("supervised:")))
    except (OSError, ValueError):
        return None


def trained_ids(coders: Iterable[Coder]) -> dict[str, frozenset[str]]:
    """Coder name → training ids, for the machine coders whose models recorded them."""
    return {c.name: ids for c in coders if (ids := training_ids_of(c)) is not None}
