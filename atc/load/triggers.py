"""Load Atomic Red Team tests (triggers) from ART's own layout: atomics/TXXXX[.YYY]/TXXXX[.YYY].yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from atc.load.fields import FieldError, read_mapping, text, text_list
from atc.load.knowledge_base import Loading
from atc.load.rules import inside
from atc.load.yamlfile import per_file
from atc.model import AtomicTest, Problem, Trigger

KIND = "trigger"
_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?", re.IGNORECASE | re.ASCII)


def load_triggers(dirs: list[Path], problems: list[Problem], loading: Loading | None = None) -> dict[str, Trigger]:
    """Every technique's tests below the folders, keyed by technique id (sorted); broken tests become Problems (it needs no other kind)."""
    triggers: dict[str, Trigger] = {}
    for path in _atomic_files(dirs, problems):
        trigger = _load_trigger(path, problems)
        if trigger is None:
            continue
        if trigger.technique_id in triggers:
            problems.append(
                Problem(
                    str(path),
                    KIND,
                    f"technique {trigger.technique_id} is also defined in {triggers[trigger.technique_id].path}; keep one file per technique",
                )
            )
            continue
        triggers[trigger.technique_id] = trigger
    return dict(sorted(triggers.items()))


def _atomic_files(dirs: list[Path], problems: list[Problem]) -> list[Path]:
    """The TXXXX/TXXXX.yaml files below the folders (other YAML, e.g. under src/, is not a technique file)."""
    found: set[Path] = set()
    for folder in dirs:
        if not folder.is_dir():
            problems.append(Problem(str(folder), KIND, "folder not found"))
            continue
        root = folder.resolve()
        found.update(
            path
            for path in folder.rglob("T*.y*ml")
            if path.suffix in (".yaml", ".yml")
            and path.stem == path.parent.name
            and _TECHNIQUE_ID.fullmatch(path.stem)
            and inside(path, root, problems, KIND)
        )
    return sorted(found)


@per_file(KIND)
def _load_trigger(path: Path, problems: list[Problem]) -> Trigger | None:
    """One technique file; a broken test is reported and skipped, the file's other tests still load."""
    data = read_mapping(path, problems, KIND, "attack_technique, display_name and atomic_tests")
    if data is None:
        return None
    try:
        technique_id = _technique_id(data, path)
        display_name = text(data, "display_name", required=True)
        raw_tests = _list_of(data, "atomic_tests", "a list of tests")
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{exc}; the file is skipped"))
        return None
    tests = [test for index, raw in enumerate(raw_tests) if (test := _load_test(raw, index, path, problems))]
    return Trigger(technique_id=technique_id, display_name=display_name, path=path, tests=tests)


def _technique_id(data: dict, path: Path) -> str:
    """The file's `attack_technique`, upper-cased; it must be a technique id and agree with the file name."""
    technique_id = (text(data, "attack_technique", required=True) or "").upper()
    if not _TECHNIQUE_ID.fullmatch(technique_id):
        raise FieldError(f"'attack_technique' must be a technique id like T1053 or T1053.005, not {technique_id!r}")
    if technique_id != path.stem.upper():
        raise FieldError(f"'attack_technique' is {technique_id} but the file is named {path.name}; make them agree")
    return technique_id


def _list_of(data: dict, key: str, what: str) -> list:
    """The key's list (missing -> empty list), or FieldError naming what it should be."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"'{key}' must be {what}")
    return value


def _load_test(raw: Any, index: int, path: Path, problems: list[Problem]) -> AtomicTest | None:
    """One atomic test, or None with a Problem naming the test's number and name."""
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f"atomic test #{index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
    try:
        if not isinstance(raw, dict):
            raise FieldError("must be a mapping with name, auto_generated_guid, supported_platforms and executor")
        return _test_from(raw)
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{label}: {exc}; this test is skipped, the others still load"))
        return None


def _test_from(raw: dict) -> AtomicTest:
    """An AtomicTest from its mapping, type-checked."""
    executor = raw.get("executor")
    if not isinstance(executor, dict):
        raise FieldError("'executor' is missing or not a mapping (name, command, cleanup_command, elevation_required)")
    platforms = [p.lower() for p in text_list(raw, "supported_platforms")]
    if not platforms:
        raise FieldError("'supported_platforms' is missing; list the platforms (windows, linux, macos, iaas:aws, ...)")
    executor_name = text(executor, "name")
    if executor_name is None:
        raise FieldError("'executor.name' is missing; name the executor (powershell, command_prompt, sh, bash, manual)")
    elevation = executor.get("elevation_required", False)
    if not isinstance(elevation, bool):
        raise FieldError("'executor.elevation_required' must be true or false")
    dependencies = _list_of(raw, "dependencies", "a list of mappings (description, prereq_command, get_prereq_command)")
    arguments = raw.get("input_arguments") or {}
    if not isinstance(arguments, dict) or not all(isinstance(v, dict) for v in arguments.values()):
        raise FieldError("'input_arguments' must map each argument name to a mapping (description, type, default)")
    if not all(isinstance(name, str) for name in arguments):
        raise FieldError("'input_arguments' names must be text (quote a name such as '1')")
    if not all(isinstance(d, dict) for d in dependencies):
        raise FieldError("each entry of 'dependencies' must be a mapping (description, prereq_command, get_prereq_command)")
    for dependency in dependencies:
        wrong = [key for key in ("description", "prereq_command", "get_prereq_command") if not isinstance(dependency.get(key, ""), str)]
        if wrong:
            raise FieldError(f"'{wrong[0]}' of a dependency must be text (a command, or a | block for several lines)")
    return AtomicTest(
        name=text(raw, "name", required=True),
        guid=text(raw, "auto_generated_guid", required=True),
        description=text(raw, "description") or "",
        platforms=platforms,
        input_arguments=arguments,
        executor=executor_name,
        command=text(executor, "command") or text(executor, "steps") or "",
        cleanup_command=text(executor, "cleanup_command") or "",
        elevation_required=elevation,
        dependency_executor=text(raw, "dependency_executor_name"),
        dependencies=dependencies,
    )
