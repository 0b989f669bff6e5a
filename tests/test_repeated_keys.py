"""A key a YAML mapping repeats (YAML keeps the last value silently): a warning naming the file, key and line, everywhere YAML is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from atc.load.yamlfile import parse_yaml, parse_yaml_documents, read_yaml
from atc.model import Problem
from tests.hostile_kb import PROBLEM_LINE, RULE_HEAD, atc

REPEATED = "appears again in the same mapping"


def _repeats(problems: list[Problem]) -> list[tuple[str, int | None]]:
    return [(p.message.split("'")[1], p.line) for p in problems if REPEATED in p.message and p.severity == "warning"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title: a\ntitle: b\n", [("title", 2)]),
        ("detection:\n  sel:\n    A: 1\n  sel:\n    B: 2\n  condition: sel\n", [("sel", 4)]),
        ("tags:\n  - a: 1\n    a: 2\n", [("a", 3)]),
        ("x: {a: 1, b: 2, a: 3}\n", [("a", 1)]),
        ("a: 1\n---\nb: 1\nb: 2\nb: 3\n", [("b", 4), ("b", 5)]),
    ],
    ids=["top level", "nested selection", "in a list item", "flow mapping", "second document, twice"],
)
def test_each_repetition_is_a_warning_with_its_key_and_line(text: str, expected: list[tuple[str, int]]) -> None:
    problems: list[Problem] = []
    documents = parse_yaml_documents(text, Path("r.yml"), problems, "rule")
    assert documents == list(yaml.safe_load_all(text))  # the value YAML keeps is the one used: nothing else changes
    assert _repeats(problems) == expected
    assert all(p.path == "r.yml" and p.kind == "rule" for p in problems)


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {a: 1}\nother:\n  <<: *b\n  a: 2\n",  # a merge key's values may be overridden
        "x: &m {a: 1}\ny: *m\nz: *m\n",  # one mapping used through aliases
        "1: number\n'1': text\n",  # two keys of different types
        "a: {b: 1}\nc: {b: 1}\n",  # the same key in different mappings
    ],
)
def test_what_is_not_a_repetition_is_not_reported(text: str) -> None:
    problems: list[Problem] = []
    assert parse_yaml(text, Path("r.yml"), problems, "rule") == yaml.safe_load(text)
    assert problems == []


_keys = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(_keys, min_size=1, max_size=8), st.integers(min_value=0, max_value=3))
def test_any_mapping_with_a_repeated_key_is_reported_at_the_repeating_line(keys: list[str], depth: int) -> None:
    indent = "  " * depth
    head = "".join(f"{'  ' * level}n{level}:\n" for level in range(depth))
    text = head + "".join(f"{indent}{key}: {number}\n" for number, key in enumerate(keys))
    problems: list[Problem] = []
    parse_yaml(text, Path("r.yml"), problems, "data_needed")
    seen: set[str] = set()
    expected = []
    for number, key in enumerate(keys):
        if key in seen:
            expected.append((key, depth + number + 1))
        seen.add(key)
    assert _repeats(problems) == expected


def test_data_needed_files_are_read_with_the_same_check(tmp_path: Path) -> None:
    item = tmp_path / "DN_0001.yml"
    item.write_text("title: DN_0001\nfields:\n  - A\ntitle: DN_0002\n", encoding="utf-8")
    problems: list[Problem] = []
    assert read_yaml(item, problems, "data_needed")["title"] == "DN_0002"
    assert _repeats(problems) == [("title", 4)] and problems[0].path == str(item)


def test_a_rule_repeating_its_selection_gets_its_page_and_a_warning_and_strict_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "repeated_selection_rule.yml").write_text(
        "title: Repeated selection\nid: 6f1d0000-0000-4000-8000-0000000000aa\nstatus: test\n"
        + RULE_HEAD
        + "detection:\n    selection:\n        CommandLine|contains: first\n    selection:\n        CommandLine|contains: second\n"
        "    condition: selection\nlevel: low\n",
        encoding="utf-8",
    )
    (tmp_path / "none").mkdir()
    options = ["--rules", str(rules), *(arg for kind in ("data-needed", "logging-policies", "triggers") for arg in (f"--{kind}", "none"))]
    built = atc("build", *options, "--no-site", "--targets", "grep", "--docs-dir", str(tmp_path / "docs"), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    lines = [PROBLEM_LINE.match(line) for line in built.stderr.splitlines()]
    found = [m for m in lines if m and REPEATED in m["message"]]
    assert [(Path(m["path"]).name, m["line"], m["severity"]) for m in found] == [("repeated_selection_rule.yml", "10", "warning")]
    page = (tmp_path / "docs" / "Detection_Rules" / "repeated_selection_rule.md").read_text(encoding="utf-8")
    grep = page.split("### grep", 1)[1]
    assert "second" in grep and "first" not in grep  # the query is the rule as YAML reads it
    strict = atc("check", *options, "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and REPEATED in strict.stderr


def test_atc_convert_warns_of_a_repeated_key_and_converts_the_value_kept(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(
        f"title: T\n{RULE_HEAD}detection:\n    sel:\n        CommandLine: first\n    sel:\n        CommandLine: second\n    condition: sel\n",
        encoding="utf-8",
    )
    done = atc("convert", "-t", "grep", str(rule), cwd=tmp_path)
    assert done.returncode == 0 and "second" in done.stdout and "first" not in done.stdout
    assert f"{rule}:8: warning: [rule] the key 'sel' {REPEATED}" in done.stderr
