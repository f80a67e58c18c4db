"""Exceptions users see. Each carries enough context to fix the input without a debugger."""

from __future__ import annotations


class CovalueError(Exception):
    """Base class: the CLI prints these without a traceback and exits non-zero."""


class CodebookError(CovalueError):
    """A codebook file is invalid; ``problems`` lists every finding, each naming file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class InputError(CovalueError):
    """Bad input data, located as precisely as the format allows.

    ``line`` is a 1-based line number for text formats, a row number for Parquet and Excel,
    and None when the problem concerns the whole file.
    """

    def __init__(self, file: str, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.location() + ": " + message)

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, int | None, str | None]]:
        """Pickle by fields, so the error survives the trip from a worker process to the caller."""
        return _rebuild_input_error, (self.file, self.message, self.line, self.field)

    def location(self) -> str:
        text = str(self.file)
        if self.line is not None:
            text += f":{self.line}"
        if self.field is not None:
            text += f": field {self.field!r}"
        return text


def _rebuild_input_error(file: str, message: str, line: int | None, field: str | None) -> InputError:
    return InputError(file, message, line=line, field=field)


class StoreError(CovalueError):
    """A request the store cannot satisfy (unknown project, duplicate name, bad URL...)."""
