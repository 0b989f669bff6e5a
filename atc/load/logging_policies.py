"""Load logging policies: how to switch a log on."""

from __future__ import annotations

import re
from pathlib import Path

from atc.load.fields import FieldError, event_id_list, load_unique, names, read_mapping, shown_only, text, text_list
from atc.load.knowledge_base import Loading
from atc.load.yamlfile import per_file
from atc.model import LoggingPolicy, Problem

KIND = "logging_policy"
_TITLE = re.compile(r"^title:\s*['\"]?LP_", re.MULTILINE)


def recognise(head: str) -> bool:
    """Whether a YAML file's first bytes are a logging policy's (a title starting LP_, as ATC names them)."""
    return _TITLE.search(head) is not None


def load_logging_policies(dirs: list[Path], problems: list[Problem], loading: Loading | None = None) -> dict[str, LoggingPolicy]:
    """Every logging policy below the folders, keyed by its title; bad files and duplicates become Problems (it needs no other kind)."""
    return load_unique(dirs, problems, KIND, "logging policy", lambda path: _load_policy(path, problems), lambda policy: policy.id)


@per_file(KIND)
def _load_policy(path: Path, problems: list[Problem]) -> LoggingPolicy | None:
    """One logging policy file, or None with the reason recorded."""
    data = read_mapping(path, problems, KIND, "title, description, eventID, configuration")
    if data is None:
        return None
    try:
        title = text(data, "title", required=True)
        return LoggingPolicy(
            id=title,
            path=path,
            title=title,
            description=text(data, "description") or "",
            default=text(data, "default"),
            volume=text(data, "volume"),
            event_ids=event_id_list(data, "event_ids", "eventID"),
            configuration=text(data, "configuration") or "",
            references=shown_only(data, "references", text_list, problems, path, KIND) or [],
            sample=shown_only(data, "sample", text, problems, path, KIND),
            author=shown_only(data, "author", names, problems, path, KIND),
        )
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{exc}; the logging policy is skipped"))
        return None
