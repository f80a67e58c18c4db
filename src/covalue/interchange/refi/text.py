"""Windows line endings in imported texts, and the selection positions that depend on them.

covalue keeps every text exactly as the file has it (``\\r\\n`` included) and counts span
positions in code points of that text, which is also what the standard says. Tools disagree
on how they count ``\\r\\n``, though: NVivo, MAXQDA and QualCoder count the code points of the
file as it is (two), while ATLAS.ti counts ``\\r\\n`` as one character. Positions from such a
file are converted to code points of the stored text. The counting rule is chosen from the
file's ``origin`` unless the caller says otherwise.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

from covalue.interchange.refi.model import RefiSelection, RefiSource

LineEndings = Literal["auto", "raw", "collapsed"]


def counting_rule(mode: LineEndings, origin: str | None) -> Literal["raw", "collapsed"]:
    """``collapsed`` (``\\r\\n`` is one position) for ATLAS.ti files, else ``raw``."""
    if mode != "auto":
        return mode
    return "collapsed" if origin and "atlas" in origin.lower() else "raw"


def place_selections(source: RefiSource, rule: Literal["raw", "collapsed"], dropped: list[str]) -> bool:
    """Convert ``source``'s selection positions to code points of its text; drop those outside it.

    Returns whether the text has ``\\r\\n`` line ends (for the import report).
    """
    text = source.text
    # Index, in the text with \r\n counted once, of each \r\n pair: positions after it move by one.
    pairs = _collapsed_pair_indices(text) if "\r\n" in text else []
    kept = []
    for selection in source.selections:
        if rule == "collapsed" and pairs:
            selection.start += bisect_left(pairs, selection.start)
            selection.end += bisect_left(pairs, selection.end)
        if 0 <= selection.start < selection.end <= len(text):
            kept.append(selection)
        else:
            dropped.append(_outside(source, selection, len(text)))
    source.selections = kept
    return bool(pairs)


def _collapsed_pair_indices(text: str) -> list[int]:
    indices = []
    start = 0
    while (found := text.find("\r\n", start)) != -1:
        indices.append(found - len(indices))
        start = found + 2
    return indices


def _outside(source: RefiSource, selection: RefiSelection, length: int) -> str:
    return (
        f"selection {selection.guid} [{selection.start}, {selection.end}) of source {source.name!r} "
        f"is empty or outside its text ({length} characters); "
        f"its {len(selection.codings)} coding(s) were not imported"
    )
