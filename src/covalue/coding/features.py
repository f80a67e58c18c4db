"""Feature extraction for the supervised coder: plain arrays in, one sparse matrix out.

A :class:`FeatureSpace` concatenates any of three blocks:

* ``tfidf`` — word 1–2-gram TF-IDF, fitted on the training texts. It is the strongest single
  block once a few hundred labelled incidents exist (see ``docs/coder.md``);
* an encoder block — distilled static MiniLM vectors (fast) or the full MiniLM (accurate);
* ``source`` — one-hot of the incident's source or channel when known, because what counts as
  coping or as the typical phase differs between a regulator complaint and a tweet.

The fitted state (vocabulary, idf weights, source list) is plain arrays and lists so that a
trained model is saved without pickle and loads on any scikit-learn version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from covalue.coding.encoders import Encoder, make_encoder

TFIDF_OPTIONS: dict[str, Any] = {
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "min_df": 2,
    "max_features": 60_000,
    "strip_accents": "unicode",
    "dtype": np.float32,
}


@dataclass
class FeatureSpace:
    """Which blocks to use, and their fitted state."""

    tfidf: bool = True
    encoder: str | None = "static-minilm"
    source: bool = True
    encoder_weight: float = 1.0
    vocabulary: dict[str, int] = field(default_factory=dict)
    idf: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)

    def fit(self, texts: Sequence[str], sources: Sequence[str | None] | None = None) -> FeatureSpace:
        if self.tfidf:
            vectorizer = TfidfVectorizer(**TFIDF_OPTIONS).fit(texts)
            self.vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
            self.idf = vectorizer.idf_.astype(np.float32)
        if self.source:
            self.sources = sorted({s for s in (sources or []) if s})
        return self

    def transform(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        encoded: np.ndarray | None = None,
    ) -> sparse.csr_matrix:
        """Features for ``texts``; pass ``encoded`` to reuse encoder vectors computed elsewhere."""
        blocks: list[sparse.spmatrix] = []
        if self.tfidf:
            blocks.append(self._vectorizer().transform(texts))
        if self.encoder:
            vectors = encoded if encoded is not None else self.encoder_model().encode(texts)
            blocks.append(sparse.csr_matrix(vectors * self.encoder_weight))
            self.encoder_dim = int(vectors.shape[1])
        if self.source:
            blocks.append(self._source_block(sources, len(texts)))
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def transform_cheap(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Features without the transformer: the TF-IDF block and, on the fast path, the static block.

        Used to score sentences for evidence. The full MiniLM would multiply the cost of the
        accurate path several times over, so its block is left at zero there and sentences are
        ranked by their words.
        """
        if self.encoder in (None, "static-minilm") or not getattr(self, "encoder_dim", 0):
            return self.transform(texts)
        return self.transform(texts, encoded=np.zeros((len(texts), self.encoder_dim), np.float32))

    def encoder_model(self) -> Encoder:
        if not self.encoder:
            raise ValueError("this feature space has no encoder block")
        return make_encoder(self.encoder)

    def _vectorizer(self) -> TfidfVectorizer:
        cached = getattr(self, "_cached_vectorizer", None)
        if cached is None:
            if self.idf is None:
                raise ValueError("the TF-IDF block is not fitted")
            cached = TfidfVectorizer(**TFIDF_OPTIONS, vocabulary=self.vocabulary)
            cached.idf_ = self.idf
            self._cached_vectorizer = cached
        return cached

    def _source_block(self, sources: Sequence[str | None] | None, n: int) -> sparse.csr_matrix:
        index = {name: k for k, name in enumerate(self.sources)}
        rows, cols = [], []
        for row, name in enumerate(sources or [None] * n):
            if name in index:
                rows.append(row)
                cols.append(index[name])
        data = np.ones(len(rows), np.float32)
        return sparse.csr_matrix((data, (rows, cols)), shape=(n, len(self.sources)))

    # -- persistence as plain data --------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able settings and the arrays to store beside them."""
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        settings = {
            "tfidf": self.tfidf,
            "encoder": self.encoder,
            "source": self.source,
            "encoder_weight": self.encoder_weight,
            "sources": self.sources,
        }
        # A fixed-width unicode array: stored by numpy without pickle.
        arrays = {"tfidf_terms": np.array(terms, dtype=str), "tfidf_idf": self.idf} if self.tfidf else {}
        return settings, arrays

    @classmethod
    def from_state(cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureSpace:
        space = cls(
            tfidf=settings["tfidf"],
            encoder=settings["encoder"],
            source=settings["source"],
            encoder_weight=settings["encoder_weight"],
            sources=list(settings["sources"]),
        )
        if space.tfidf:
            space.vocabulary = {str(term): k for k, term in enumerate(arrays["tfidf_terms"])}
            space.idf = arrays["tfidf_idf"].astype(np.float32)
        return space
