"""Read one YAML file safely: C loader, size, value-count and nesting limits, and a Problem (never a traceback) on bad input."""

from __future__ import annotations

import functools
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import yaml

from atc.common.yaml_reader import YamlReader, all_documents, one_document, read_documents
from atc.model import Problem

MAX_BYTES = 1_000_000  # a rule or Data Needed file larger than this is refused
MAX_NODES = 200_000  # YAML values after alias expansion (guards against alias bombs)
MAX_DEPTH = 64  # nesting levels (real rules nest fewer than 10; deep nesting exhausts pySigma's recursion)


Loaded = TypeVar("Loaded")


def per_file(kind: str) -> Callable[[Callable[..., Loaded | None]], Callable[..., Loaded | None]]:
    """Make a one-file loader (path, problems, ...) turn any exception into a Problem naming the file: no traceback, the build goes on."""

    def decorate(load: Callable[..., Loaded | None]) -> Callable[..., Loaded | None]:
        @functools.wraps(load)
        def guarded(path: Path, problems: list[Problem], *args: Any) -> Loaded | None:
            try:
                return load(path, problems, *args)
            except Exception as exc:  # the file is untrusted: whatever it makes a library raise is this file's problem
                message = " ".join(str(exc).split())[:300]
                problems.append(Problem(str(path), kind, f"cannot load the file ({type(exc).__name__}: {message}); skipped"))
                return None

        return guarded

    return decorate


class LimitExceeded(ValueError):
    """The parsed YAML is too big or too deep; the message says which limit."""


def type_name(value: Any) -> str:
    """A reader-friendly name for a YAML value's type."""
    names = {str: "text", list: "a list", dict: "a mapping", bool: "true/false", int: "a number", float: "a number", bytes: "binary data"}
    return names.get(type(value), type(value).__name__)


def list_found(value: Any, allowed: tuple[type, ...] = (str,)) -> str:
    """What a value meant as a list of text is, for a message: its type, or which item of the list is not text."""
    if not isinstance(value, list):
        return type_name(value)
    number, item = next(((n, v) for n, v in enumerate(value, 1) if v is not None and not isinstance(v, allowed)), (0, None))
    return f"a list whose item {number} is {type_name(item)}" if number else "a list"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, trimmed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_text(path: Path, problems: list[Problem], kind: str) -> str | None:
    """The file's text, or None with a Problem when it is not a regular file, too large, unreadable or not UTF-8."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):  # given by name (atc convert FOLDER): the folder walk never hands one over
            problems.append(Problem(str(path), kind, "is a folder, not a file; name the rule files in it"))
            return None
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block the build or never end
            problems.append(Problem(str(path), kind, "not a regular file (a FIFO, socket or device); skipped"))
            return None
        size = info.st_size
        if size > MAX_BYTES:
            problems.append(Problem(str(path), kind, f"file is {size:,} bytes, more than the {MAX_BYTES:,} allowed; split it or trim it"))
            return None
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), kind, f"cannot read file: {exc.strerror or exc}"))
        return None
    return decode_text(raw, path, problems, kind)


def read_stream(stream: BinaryIO, path: Path, problems: list[Problem], kind: str) -> str | None:
    """A stream's text (standard input, named path in problems), or None with a Problem, within the file size limit."""
    raw = stream.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        problems.append(Problem(str(path), kind, f"more than the {MAX_BYTES:,} bytes allowed; split it or trim it"))
        return None
    return decode_text(raw, path, problems, kind)


def decode_text(raw: bytes, path: Path, problems: list[Problem], kind: str) -> str | None:
    """The bytes as UTF-8 text (a byte order mark dropped), or None with a Problem when they are not UTF-8 or blank."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), kind, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"))
        return None
    if not text.strip():
        problems.append(Problem(str(path), kind, "file is empty; delete it or write the item into it"))
        return None
    return text


def check_limits(data: Any, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Raise LimitExceeded past max_nodes values (aliases count every time they appear) or max_depth levels."""
    count, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise LimitExceeded(
                f"YAML expands to more than {max_nodes:,} values (alias bomb or oversized file); split it into smaller files"
            )
        if depth > max_depth:
            raise LimitExceeded(f"YAML nests deeper than {max_depth} levels; flatten it")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def parse_yaml(text: str, path: Path, problems: list[Problem], kind: str, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document; on failure record a Problem (with the line YAML gives) and return None."""
    documents = _parse(text, one_document, path, problems, kind, max_nodes)
    return documents[0] if documents else None


def parse_yaml_documents(text: str, path: Path, problems: list[Problem], kind: str, max_nodes: int = MAX_NODES) -> list[Any] | None:
    """Parse every YAML document of a file (`---` separated; empty ones dropped); on failure record a Problem and return None."""
    return _parse(text, all_documents, path, problems, kind, max_nodes)


def _parse(
    text: str, load: Callable[[YamlReader], list[Any]], path: Path, problems: list[Problem], kind: str, max_nodes: int
) -> list[Any] | None:
    """The non-empty documents `load` reads from the text, within the limits; None with one Problem naming the file
    otherwise. A key a mapping repeats is a warning: the value YAML keeps (the last) is used."""
    try:
        loaded, repeated = read_documents(text, load)
        documents = [document for document in loaded if document is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problems.append(Problem(str(path), kind, f"invalid YAML: {exc.problem or exc.context}; fix the syntax at this line", line))
        return None
    except (yaml.YAMLError, RecursionError) as exc:
        problems.append(Problem(str(path), kind, f"invalid YAML ({type(exc).__name__}); fix the syntax"))
        return None
    if not documents:
        problems.append(Problem(str(path), kind, "file holds no YAML value (only comments or null); delete it or write the item into it"))
        return None
    problems.extend(
        Problem(
            str(path),
            kind,
            f"the key {key!r} appears again in the same mapping: YAML keeps only this last value and drops the earlier one; "
            "merge the two or rename one",
            line,
            severity="warning",
        )
        for key, line in repeated
    )
    try:
        for document in documents:  # aliases never cross documents, and the file size bounds how many there are
            check_limits(document, max_nodes)
    except LimitExceeded as exc:
        problems.append(Problem(str(path), kind, f"{exc}; refused"))
        return None
    return documents


def read_yaml(path: Path, problems: list[Problem], kind: str) -> Any:
    """Read and parse one single-document YAML file; None (with a Problem recorded) on failure."""
    text = read_text(path, problems, kind)
    if text is None:
        return None
    return parse_yaml(text, path, problems, kind)
