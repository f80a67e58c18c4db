"""Deterministic XML and zip writing: the same project always gives the same bytes.

Two exports of an unchanged project must be byte-identical (so users can diff them and
version them). Hence: attributes in a fixed order (ElementTree keeps insertion order), no
clock reads anywhere (times come from stored ``created_at`` values), zip entries with a fixed
timestamp, permissions and creator system. Big projects are written piece by piece: the root
element's start and end tags are written by hand and every child subtree is serialised on its
own, so memory stays flat however many sources there are.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from xml.etree.ElementTree import Element, indent, tostring

#: Characters XML 1.0 cannot carry at all (not even escaped).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
INDENT = "  "


class XmlWriter:
    """Writes one XML document as text, a subtree at a time; counts characters it had to replace."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.replaced = 0  # control characters XML cannot hold, written as U+FFFD

    def declaration(self) -> None:
        self.stream.write('<?xml version="1.0" encoding="utf-8"?>\n')

    def open(self, tag: str, attributes: dict[str, str] | None = None, level: int = 0) -> None:
        attrs = "".join(f' {k}="{self._clean(v).translate(_ATTR_ESCAPES)}"' for k, v in (attributes or {}).items())
        self.stream.write(f"{INDENT * level}<{tag}{attrs}>\n")

    def close(self, tag: str, level: int = 0) -> None:
        self.stream.write(f"{INDENT * level}</{tag}>\n")

    def element(self, element: Element, level: int = 0) -> None:
        indent(element, space=INDENT, level=level)
        self.stream.write(INDENT * level + self._clean(tostring(element, encoding="unicode")).rstrip() + "\n")

    def _clean(self, text: str) -> str:
        cleaned, count = _NOT_XML.subn("\ufffd", text)
        self.replaced += count
        return cleaned


class LazySection:
    """A wrapper element (``<Sources>``) opened only when its first child comes.

    The schemas forbid empty wrappers (``<Cases/>`` is invalid), and a streamed section does
    not know in advance whether it will have children.
    """

    def __init__(self, writer: XmlWriter, tag: str, level: int) -> None:
        self.writer, self.tag, self.level = writer, tag, level
        self.count = 0

    def add(self, element: Element) -> None:
        if self.count == 0:
            self.writer.open(self.tag, level=self.level)
        self.count += 1
        self.writer.element(element, self.level + 1)

    def finish(self) -> None:
        if self.count:
            self.writer.close(self.tag, level=self.level)


def zip_entry(name: str) -> zipfile.ZipInfo:
    """A zip entry whose header does not depend on the clock, the OS or the umask."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


@contextmanager
def zip_text_member(archive: zipfile.ZipFile, name: str) -> Iterator[IO[str]]:
    """A UTF-8 text stream writing straight into a new archive member."""
    with (
        archive.open(zip_entry(name), "w") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text,
    ):
        yield text
