"""Example incidents for a report: a few real incidents per top code, evidence highlighted.

Readers trust a code when they see incidents behind it, with the sentences that made the
coder choose it. Incident text is untrusted input: every piece of it is HTML-escaped here, and
only the ``<mark>`` elements this module adds are markup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from covalue.analysis.frame import EVIDENCE_COLUMN, evidence_key
from covalue.framework.codebook import Codebook

#: Longest excerpt shown, in characters; long complaints are cut around their evidence.
EXCERPT_CHARS = 600


@dataclass(frozen=True)
class Example:
    """One incident shown as an example of one code."""

    item_id: str
    dimension: str
    code: str
    code_name: str
    source: str | None
    valence: str | None
    html: Markup
    has_evidence: bool


def merge_spans(spans: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans (overlapping or touching spans are joined)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans if int(e) > int(s)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def excerpt_window(text: str, spans: list[tuple[int, int]], limit: int = EXCERPT_CHARS) -> tuple[int, int]:
    """The ``[start, end)`` window of at most ``limit`` characters to show, centred on the evidence."""
    if len(text) <= limit:
        return 0, len(text)
    if not spans:
        return 0, limit
    first, last = spans[0][0], spans[-1][1]
    if last - first >= limit:
        return first, first + limit
    start = max(0, min(first - (limit - (last - first)) // 2, len(text) - limit))
    return start, start + limit


def highlight(text: str, spans: Iterable[Sequence[int]], limit: int = EXCERPT_CHARS) -> Markup:
    """Escaped ``text`` (cut to ``limit``) with each evidence span wrapped in ``<mark>``."""
    merged = merge_spans(spans)
    window_start, window_end = excerpt_window(text, merged, limit)
    parts: list[str] = ["…" if window_start > 0 else ""]
    cursor = window_start
    for start, end in merged:
        start, end = max(start, window_start), min(end, window_end)
        if start >= end:
            continue
        parts.append(str(escape(text[cursor:start])))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    parts.append(str(escape(text[cursor:window_end])))
    parts.append("…" if window_end < len(text) else "")
    return Markup("".join(parts))


def _stable_order(item_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()


def pick_examples(
    frame: pd.DataFrame,
    codebook: Codebook,
    dimension: str,
    codes: Sequence[str],
    *,
    per_code: int = 2,
    seed: int = 0,
    text_of: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
) -> list[Example]:
    """``per_code`` incidents for each code, preferring ones with evidence for that code.

    The choice is deterministic for a seed (a hash order, not the data's order, so examples
    are not all from the first source imported). ``text_of`` fetches texts by id when the frame
    was built without them (big corpora).
    """
    multi = codebook.is_multi(dimension)
    hashes = np.array([_stable_order(item, seed) for item in frame["item_id"]], dtype=object)
    evidence = frame[EVIDENCE_COLUMN].to_numpy()
    values = frame[dimension].to_numpy()
    chosen: list[tuple[str, pd.Series]] = []
    for code in codes:
        key = evidence_key(dimension, code)
        rows = [k for k, v in enumerate(values) if (code in v if multi else v == code)]
        rows.sort(key=lambda k, key=key: (key not in (evidence[k] or {}), hashes[k]))
        chosen.extend((code, frame.iloc[k]) for k in rows[:per_code])
    texts = _texts(frame, [row["item_id"] for _, row in chosen], text_of)
    examples = []
    for code, row in chosen:
        spans = (row[EVIDENCE_COLUMN] or {}).get(evidence_key(dimension, code), [])
        examples.append(
            Example(
                item_id=row["item_id"],
                dimension=dimension,
                code=code,
                code_name=codebook.code(dimension, code).code.name,
                source=row.get("source"),
                valence=row.get("valence"),
                html=highlight(texts.get(row["item_id"], ""), spans),
                has_evidence=bool(spans),
            )
        )
    return examples


def _texts(
    frame: pd.DataFrame, ids: list[str], text_of: Callable[[Sequence[str]], Mapping[str, str]] | None
) -> Mapping[str, str]:
    if "text" in frame.columns:
        wanted = set(ids)
        subset = frame.loc[frame["item_id"].isin(wanted), ["item_id", "text"]]
        return dict(zip(subset["item_id"], subset["text"], strict=True))
    if text_of is None:
        raise ValueError("the frame has no text column; pass text_of to fetch example texts")
    return text_of(ids)
