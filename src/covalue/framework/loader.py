"""Load and validate codebook YAML files.

Errors name the file, the line and the field path (``vcd.yaml:42: dimensions[1].codes[0].name:
Field required``) because codebook authors edit YAML by hand and need to find the mistake fast.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from covalue.errors import CodebookError
from covalue.framework.codebook import Codebook
from covalue.framework.schema import CodebookSpec

BUNDLED_PACKAGE = "covalue.framework.codebooks"
_Model = TypeVar("_Model", bound=BaseModel)


def bundled_codebook_ids() -> list[str]:
    """Ids of the codebooks shipped inside the package, sorted."""
    folder = resources.files(BUNDLED_PACKAGE)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_codebook(name_or_path: str | Path) -> Codebook:
    """Load a bundled codebook by id (``vcd``) or any codebook YAML file by path."""
    text, label = _read_source(name_or_path)
    return parse_codebook(text, label)


#: libyaml's parser when PyYAML was built with it (ten times faster), else the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def parse_codebook(text: str, label: str = "<codebook>") -> Codebook:
    """Parse and validate codebook YAML text; ``label`` names the file in errors.

    Cached: a Codebook is immutable, and the store parses the same snapshot on every read.
    """
    return Codebook(parse_yaml_model(text, label, CodebookSpec, "a codebook"), source_text=text)


def parse_yaml_model(text: str, label: str, model: type[_Model], what: str) -> _Model:
    """Parse YAML text into a pydantic model; every error names ``label``, the line and the field.

    Shared by codebooks and the files that travel with them (recommendations), which are all
    edited by hand.
    """
    try:
        root, data = _compose_and_construct(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CodebookError([_format(label, line, None, f"invalid YAML: {problem}")]) from exc
    if not isinstance(data, dict):
        raise CodebookError([_format(label, 1, None, f"{what} must be a YAML mapping")])
    lines = _line_index(root)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CodebookError(_describe(exc, label, lines)) from exc


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers) and the Python data built from it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _read_source(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise CodebookError([f"{path}: no such codebook file"])
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise CodebookError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    name = str(name_or_path)
    if name not in bundled_codebook_ids():
        known = ", ".join(bundled_codebook_ids())
        raise CodebookError([f"unknown codebook {name!r}: bundled ones are {known}, or give a YAML path"])
    text = resources.files(BUNDLED_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return text, f"{name}.yaml"


def _line_index(node: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Map each path in the YAML tree (keys and list indices) to its 1-based line."""
    index: dict[tuple[Any, ...], int] = {}

    def visit(current: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                key = key_node.value
                index[(*path, key)] = key_node.start_mark.line + 1
                visit(value_node, (*path, key))
        elif isinstance(current, yaml.SequenceNode):
            for position, item in enumerate(current.value):
                visit(item, (*path, position))

    if node is not None:
        visit(node, ())
    return index


def _describe(exc: ValidationError, label: str, lines: dict[tuple[Any, ...], int]) -> list[str]:
    messages = []
    for error in exc.errors():
        path = tuple(error["loc"])
        line = _nearest_line(path, lines)
        message = error["msg"].removeprefix("Value error, ")
        messages.append(_format(label, line, _dotted(path), message))
    return messages


def _nearest_line(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    """The line of the deepest existing ancestor: a missing field is reported at its parent."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _format(label: str, line: int | None, field: str | None, message: str) -> str:
    where = f"{label}:{line}" if line is not None else label
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"
