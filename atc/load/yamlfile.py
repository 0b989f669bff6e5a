"""Read one YAML file safely: C loader, size limit, and a Problem (never a traceback) on bad input."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from atc.model import Problem

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_BYTES = 1_000_000  # a rule or Data Needed file larger than this is refused
MAX_NODES = 200_000  # YAML nodes after alias expansion (guards against alias bombs)


def read_text(path: Path, problems: list[Problem], kind: str) -> str | None:
    """The file's text, or None with a Problem when it is too large, unreadable or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            problems.append(Problem(str(path), kind, f"file is {size:,} bytes, more than the {MAX_BYTES:,} allowed; split it or trim it"))
            return None
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), kind, f"cannot read file: {exc.strerror or exc}"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), kind, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"))
        return None
    if not text.strip():
        problems.append(Problem(str(path), kind, "file is empty"))
        return None
    return text


def _count_nodes(data: Any, limit: int) -> int:
    """Count containers and scalars, stopping early past the limit (aliases count every time they appear)."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            break
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def parse_yaml(text: str, path: Path, problems: list[Problem], kind: str, *, multi: bool = False) -> Any:
    """Parse YAML text; on failure record a Problem with the line YAML gives and return None."""
    try:
        if multi:
            data: Any = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
        else:
            data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problems.append(Problem(str(path), kind, f"invalid YAML: {exc.problem or exc.context}", line))
        return None
    except (yaml.YAMLError, RecursionError) as exc:
        problems.append(Problem(str(path), kind, f"invalid YAML: {type(exc).__name__}"))
        return None
    if _count_nodes(data, MAX_NODES) > MAX_NODES:
        problems.append(Problem(str(path), kind, f"YAML expands to more than {MAX_NODES:,} values (alias bomb or oversized rule); refused"))
        return None
    return data


def read_yaml(path: Path, problems: list[Problem], kind: str) -> Any:
    """Read and parse one single-document YAML file; None (with a Problem recorded) on failure."""
    text = read_text(path, problems, kind)
    if text is None:
        return None
    return parse_yaml(text, path, problems, kind)
