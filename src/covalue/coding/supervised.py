"""The supervised coder: features + one calibrated linear head per dimension + evidence.

Works for any codebook: ``fit`` learns whatever dimensions the labels cover. Evidence comes
from scoring each sentence with the chosen code's head (its text part), so the spans shown to a
person are the sentences that pushed the model towards the code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covalue.coding.base import CodeDecision, IncidentCoding, Labels, default_ids
from covalue.coding.decoding import DimensionScores, all_decisions, decode_batch
from covalue.coding.features import FeatureSpace
from covalue.coding.heads import Head, fit_head
from covalue.coding.text import sentence_spans
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.framework.loader import load_codebook, parse_codebook
from covalue.model.incident import Span

FORMAT_VERSION = 1
MAX_EVIDENCE = 2
#: Ids of the incidents a model was trained on, one per line, beside its manifest. Reports use
#: them to tell agreement on training incidents (fit) from agreement on new ones (accuracy).
TRAINING_IDS_FILE = "training_ids.txt"


@dataclass
class TrainingInfo:
    incidents: int
    dimensions: list[str]
    labels_sha256: str


class SupervisedCoder:
    """scikit-learn-like coder: ``fit(texts, labels, sources)`` then ``predict(texts, sources)``."""

    def __init__(
        self,
        codebook: Codebook | str = "vcd",
        *,
        features: FeatureSpace | None = None,
        C: float = 4.0,
        seed: int = 0,
        calibrate: bool = True,
        name: str = "covalue-supervised",
        version: str = "1",
    ) -> None:
        self.codebook = load_codebook(codebook) if isinstance(codebook, str) else codebook
        self.features = features or FeatureSpace()
        self.C = C
        self.seed = seed
        self.calibrate = calibrate
        self.name = name
        self.version = version
        self.heads: dict[str, Head] = {}
        self.training: TrainingInfo | None = None
        self.training_ids: frozenset[str] | None = None

    # -- learning -------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Labels],
        sources: Sequence[str | None] | None = None,
        *,
        ids: Sequence[str] | None = None,
    ) -> SupervisedCoder:
        """Learn every dimension the labels cover; ``ids`` (the incidents' ids) are kept with the model."""
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} label rows")
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(ids)} ids")
        dimensions = [d for d in self.codebook.dimension_ids if any(d in row for row in labels)]
        if not dimensions:
            raise CovalueError(f"the labels cover no dimension of codebook {self.codebook.key}")
        self.features.fit(texts, sources)
        matrix = self.features.transform(texts, sources)
        self.heads = {}
        for dimension in dimensions:
            rows = [k for k, row in enumerate(labels) if dimension in row]
            self.heads[dimension] = self._fit_dimension(dimension, matrix[rows], [labels[k] for k in rows])
        self.training = TrainingInfo(len(texts), dimensions, _labels_hash(texts, labels))
        self.training_ids = frozenset(ids) if ids is not None else None
        return self

    def _fit_dimension(self, dimension: str, matrix, labels: Sequence[Labels]) -> Head:
        multi = self.codebook.is_multi(dimension)
        classes = self.codebook.code_ids(dimension)
        index = {code: j for j, code in enumerate(classes)}
        if multi:
            targets = np.zeros((len(labels), len(classes)), np.int8)
            for row, label in enumerate(labels):
                for code in label[dimension]:
                    targets[row, index[code]] = 1
        else:
            missing = [k for k, label in enumerate(labels) if len(label[dimension]) != 1]
            if missing:
                raise CovalueError(f"{len(missing)} label rows give no single value for {dimension!r}")
            targets = np.array([index[label[dimension][0]] for label in labels])
        folds = 3 if self.calibrate else 0
        return fit_head(dimension, multi, classes, matrix, targets, C=self.C, seed=self.seed, calibration_folds=folds)

    # -- predicting -----------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], sources: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """Calibrated probabilities per dimension, columns in ``classes_[dimension]`` order."""
        self._check_fitted()
        matrix = self.features.transform(texts, sources)
        return {dimension: head.proba(matrix) for dimension, head in self.heads.items()}

    @property
    def classes_(self) -> dict[str, list[str]]:
        return {dimension: head.classes for dimension, head in self.heads.items()}

    def predict(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
        *,
        evidence: bool = True,
    ) -> list[IncidentCoding]:
        identifiers = default_ids(len(texts), ids)
        probabilities = self.predict_proba(texts, sources)
        scores = {
            dimension: DimensionScores(head.classes, probabilities[dimension], head.multi, head.threshold)
            for dimension, head in self.heads.items()
        }
        decisions = all_decisions(scores, decode_batch(self.codebook, scores))
        spans = self._evidence(texts, decisions) if evidence else [{} for _ in texts]
        return [
            IncidentCoding(
                identifiers[row],
                {
                    dimension: tuple(
                        CodeDecision(code, probability, spans[row].get((dimension, code), ()))
                        for code, probability in picks
                    )
                    for dimension, picks in decisions[row].items()
                },
            )
            for row in range(len(texts))
        ]

    def _evidence(
        self, texts: Sequence[str], decisions: list[dict[str, list[tuple[str, float]]]]
    ) -> list[dict[tuple[str, str], tuple[Span, ...]]]:
        """Top sentences per chosen code, scored by the code's head on the sentence alone.

        A one-sentence incident (most tweets) is its own evidence, so only incidents with
        several sentences are featurised again, sentence by sentence.
        """
        sentence_lists = [sentence_spans(text) for text in texts]
        several = [k for k, spans in enumerate(sentence_lists) if len(spans) > 1]
        flat = [texts[k][s.start : s.end] for k in several for s in sentence_lists[k]]
        blocks: dict[int, dict[str, np.ndarray]] = {}
        if flat:
            matrix = self.features.transform_cheap(flat)
            scores = {dimension: head.scores(matrix) - head.intercept for dimension, head in self.heads.items()}
            offset = 0
            for k in several:
                size = len(sentence_lists[k])
                blocks[k] = {dimension: block[offset : offset + size] for dimension, block in scores.items()}
                offset += size
        result: list[dict[tuple[str, str], tuple[Span, ...]]] = []
        for k, (spans, chosen) in enumerate(zip(sentence_lists, decisions, strict=True)):
            found: dict[tuple[str, str], tuple[Span, ...]] = {}
            for dimension, picks in chosen.items():
                for code, _ in picks:
                    if k in blocks:
                        found[(dimension, code)] = _best_sentences(
                            blocks[k][dimension], self.heads[dimension], code, spans
                        )
                    else:
                        found[(dimension, code)] = tuple(spans)
            result.append(found)
        return result

    def _check_fitted(self) -> None:
        if not self.heads:
            raise CovalueError("this coder is not trained yet: call fit() or load a trained model")

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``manifest.json`` and ``arrays.npz`` (no pickle) into ``folder``."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        settings, arrays = self.features.state()
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "kind": "supervised",
            "name": self.name,
            "version": self.version,
            "codebook": self.codebook.key,
            "codebook_sha256": self.codebook.sha256,
            "codebook_yaml": self.codebook.source_text,
            "C": self.C,
            "seed": self.seed,
            "features": settings,
            "heads": [],
            "training": self.training.__dict__ if self.training else None,
        }
        for dimension, head in self.heads.items():
            manifest["heads"].append(
                {
                    "dimension": dimension,
                    "multi": head.multi,
                    "classes": head.classes,
                    "threshold": head.threshold,
                }
            )
            arrays.update(
                {
                    f"{dimension}.coef": head.coef.astype(np.float16),
                    f"{dimension}.intercept": head.intercept,
                    f"{dimension}.scale": head.scale,
                    f"{dimension}.shift": head.shift,
                }
            )
        np.savez_compressed(folder / "arrays.npz", **arrays)
        ids_path = folder / TRAINING_IDS_FILE
        if self.training_ids is not None:
            ids_path.write_text("".join(f"{i}\n" for i in sorted(self.training_ids)), encoding="utf-8")
        else:
            ids_path.unlink(missing_ok=True)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SupervisedCoder:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CovalueError(f"{folder}: not a covalue model (no manifest.json)") from None
        if manifest.get("format") != FORMAT_VERSION or manifest.get("kind") != "supervised":
            raise CovalueError(f"{folder}: unsupported model format {manifest.get('format')!r}")
        codebook = parse_codebook(manifest["codebook_yaml"], manifest["codebook"])
        with np.load(folder / "arrays.npz") as data:
            arrays = {key: data[key] for key in data.files}
        coder = cls(
            codebook,
            features=FeatureSpace.from_state(manifest["features"], arrays),
            C=manifest["C"],
            seed=manifest["seed"],
            name=manifest["name"],
            version=manifest["version"],
        )
        for entry in manifest["heads"]:
            dimension = entry["dimension"]
            coder.heads[dimension] = Head(
                dimension,
                entry["multi"],
                list(entry["classes"]),
                arrays[f"{dimension}.coef"].astype(np.float32),
                arrays[f"{dimension}.intercept"],
                arrays[f"{dimension}.scale"],
                arrays[f"{dimension}.shift"],
                entry["threshold"],
            )
        if manifest.get("training"):
            coder.training = TrainingInfo(**manifest["training"])
        coder.training_ids = read_training_ids(folder)
        return coder


def read_training_ids(folder: str | Path) -> frozenset[str] | None:
    """The ids a saved model was trained on, or None when it did not record them."""
    path = Path(folder) / TRAINING_IDS_FILE
    if not path.is_file():
        return None
    return frozenset(line for line in path.read_text(encoding="utf-8").splitlines() if line)


def _best_sentences(block: np.ndarray, head: Head, code: str, spans: list[Span]) -> tuple[Span, ...]:
    column = head.classes.index(code)
    scores = block[:, column]
    if not head.multi and block.shape[1] > 1:  # a single-valued code: contrast with the alternatives
        scores = scores - (block.sum(axis=1) - scores) / (block.shape[1] - 1)
    order = np.argsort(-scores, kind="stable")
    best = [order[0]]
    for candidate in order[1:MAX_EVIDENCE]:
        if scores[candidate] > 0 and scores[candidate] >= 0.75 * scores[order[0]]:
            best.append(candidate)
    return tuple(spans[k] for k in sorted(best))


def _labels_hash(texts: Sequence[str], labels: Sequence[Mapping[str, Sequence[str]]]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8"))
        digest.update(json.dumps({k: list(v) for k, v in sorted(label.items())}).encode("utf-8"))
    return digest.hexdigest()
