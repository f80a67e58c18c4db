"""Sentence segmentation with code-point offsets, for evidence spans.

Incidents are complaints, tweets, threads rendered one turn per line, and reviews with
``Liked:``/``Disliked:`` lines. A line break always ends a unit; within a line, sentence-final
punctuation followed by white space does. Offsets are Python string indices, which are Unicode
code points, half-open ``[start, end)``, as everywhere in covalue.
"""

from __future__ import annotations

import re

from covalue.model.incident import Span

_BOUNDARY = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
_MIN_CHARS = 3


def sentence_spans(text: str) -> list[Span]:
    """Non-empty sentence spans covering the text's content, trimmed of surrounding space."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        _append_trimmed(spans, text, start, match.start())
        start = match.end()
    _append_trimmed(spans, text, start, len(text))
    return spans


def _append_trimmed(spans: list[Span], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start >= _MIN_CHARS:
        spans.append(Span(start, end))
