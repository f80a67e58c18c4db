"""Writing files so that readers never see a half-written one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from covalue.errors import CovalueError


@contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = False) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto it only if the block succeeds.

    An interrupted or failed write leaves the old file (or no file) in place, never a
    truncated one. The rename is atomic because the temporary file is in the same folder.
    The file gets the permissions a plain ``open`` would give it (``mkstemp`` makes it private).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.exists():
        raise CovalueError(f"folder {str(path.parent)!r} does not exist")
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def evidence_path(out: str | Path) -> Path:
    """``CODINGS.csv`` -> ``CODINGS.evidence.jsonl``: where a coded file's evidence goes."""
    out = Path(out)
    return out.with_name(out.stem + ".evidence.jsonl")


def _read_umask() -> int:
    """The process umask. Reading it means setting it, so it is read once, at import, before threads start."""
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()
