"""Reading untrusted REFI-QDA files safely: XML without entities, zips without escapes, size limits.

A ``.qdpx`` or ``.qdc`` file comes from another program or another person, so it is treated as
hostile input:

* XML is parsed with defusedxml, which refuses entity declarations and external references:
  no XML external entities (XXE: reading ``/etc/passwd`` into a code name) and no entity
  expansion bombs ("billion laughs").
* Zip archives are never extracted to disk; members are read into memory by name. An archive
  whose member names would escape a folder (``../evil.txt``, absolute paths, drive letters) is
  refused outright (zip-slip), because such a file is either broken or an attack.
* Every read is bounded (:class:`Limits`): the archive, each member, the sum of members, the
  member count and the compression ratio (zip bombs). Sizes are checked against the zip
  header *and* while reading, because headers can lie.

Every failure is an :class:`~covalue.errors.InputError` naming the file (and the member).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from covalue.errors import InputError

MiB = 1024 * 1024
GiB = 1024 * MiB
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one import; the defaults fit real projects with room to spare."""

    max_file_bytes: int = 4 * GiB  # the .qdpx / .qdc file on disk
    max_xml_bytes: int = 1 * GiB  # project.qde or a .qdc, uncompressed
    max_member_bytes: int = 256 * MiB  # one source file inside the archive
    max_total_bytes: int = 8 * GiB  # all members read, uncompressed
    max_members: int = 2_000_000
    max_ratio: int = 200  # uncompressed/compressed, checked for members over 1 MiB


DEFAULT_LIMITS = Limits()


def parse_xml(data: bytes, file: str) -> Element:
    """Parse untrusted XML bytes; refuse entities, DTD tricks and malformed input with a clear error."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InputError(
            file,
            f"refused: the XML declares entities or external references ({type(exc).__name__}); "
            "REFI-QDA files never need them, and they are how XXE and entity-expansion attacks work",
        ) from None
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(file, f"not well-formed XML: {exc}", line=line) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(file, f"cannot read the XML: {exc}") from None


def read_small_file(path: Path, limit: int) -> bytes:
    """A whole file, if it exists and is no larger than ``limit`` bytes."""
    if not path.is_file():
        raise InputError(str(path), "no such file")
    size = path.stat().st_size
    if size > limit:
        raise InputError(str(path), f"the file is {size:,} bytes, over the limit of {limit:,}")
    return path.read_bytes()


def check_member_name(name: str, file: str) -> None:
    """Refuse member names that would land outside an extraction folder (zip-slip)."""
    if "\x00" in name:
        raise InputError(file, f"refused: archive member {name!r} has a NUL byte in its name")
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or _DRIVE.match(posix) or ".." in parts:
        raise InputError(
            file, f"refused: archive member {name!r} points outside the archive (path traversal, 'zip-slip')"
        )


class SafeArchive:
    """A zip archive opened for bounded, in-memory reads of named members."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.file = str(path)
        self.limits = limits
        self._read_total = 0
        if not path.is_file():
            raise InputError(self.file, "no such file")
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise InputError(self.file, f"the file is {size:,} bytes, over the limit of {limits.max_file_bytes:,}")
        if not zipfile.is_zipfile(path):
            raise InputError(self.file, "not a zip archive, so not a .qdpx project (is it truncated or a .qdc?)")
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InputError(self.file, f"damaged or truncated zip archive: {exc}") from None
        self._members = self._index()

    def _index(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_members:
            raise InputError(
                self.file,
                f"the archive has {len(infos):,} members, over the limit of {self.limits.max_members:,}",
            )
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            check_member_name(info.filename, self.file)
            if not info.is_dir():
                members[info.filename.replace("\\", "/")] = info
        return members

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        return list(self._members)

    def find(self, name: str) -> str | None:
        """The member called ``name``, matching folder and file names case-insensitively if needed.

        NVivo writes ``Sources/`` where the standard says ``sources/``; Windows tools are
        case-insensitive about names generally.
        """
        if name in self._members:
            return name
        lowered = name.lower()
        for member in self._members:
            if member.lower() == lowered:
                return member
        return None

    def read(self, name: str, limit: int | None = None) -> bytes:
        """A member's bytes, bounded by ``limit`` (default: the per-member limit) and the total."""
        info = self._members[name]
        limit = limit or self.limits.max_member_bytes
        where = f"{self.file}!{name}"
        if info.flag_bits & 0x1:
            raise InputError(where, "the member is encrypted; export the project again without a password")
        if info.file_size > limit:
            raise InputError(where, f"the member is {info.file_size:,} bytes, over the limit of {limit:,}")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MiB and ratio > self.limits.max_ratio:
            raise InputError(where, f"refused: compression ratio {ratio:,.0f}:1 looks like a zip bomb")
        data = self._read_bounded(info, limit, where)
        self._read_total += len(data)
        if self._read_total > self.limits.max_total_bytes:
            raise InputError(self.file, f"the archive holds more than {self.limits.max_total_bytes:,} bytes of data")
        return data

    def _read_bounded(self, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(MiB):
                    size += len(chunk)
                    if size > limit:
                        raise InputError(where, f"the member is larger than its header says (over {limit:,} bytes)")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
            raise InputError(where, f"damaged or truncated zip member: {exc}") from None
        return b"".join(chunks)
