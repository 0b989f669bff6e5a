"""The hostile corpus (tests/hostile/) with its run-time cases, built once per test session."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).parent / "hostile"
EXPECTED = yaml.safe_load((CORPUS / "expected.yml").read_text(encoding="utf-8"))
PROBLEM_LINE = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: (?P<severity>error|warning): \[(?P<kind>[^\]]+)\] (?P<message>.*)$")
RULE_HEAD = "logsource:\n    product: windows\n    category: process_creation\n"


def rule_text(title: str, detection: str = "    selection:\n        CommandLine|contains: x\n    condition: selection\n") -> str:
    return f"title: {title}\n{RULE_HEAD}detection:\n{detection}"


def _alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + rule_text("Alias bomb", "    selection:\n        CommandLine: *a8\n    condition: selection\n")


def _many_values() -> str:
    values = ", ".join(f"v{i}" for i in range(50_000))
    return rule_text("Fifty thousand values", f"    selection:\n        CommandLine|contains: [{values}]\n    condition: selection\n")


GENERATED: dict[str, Callable[[], tuple[str, bytes]]] = {
    "alias_bomb": lambda: ("alias_bomb.yml", _alias_bomb().encode()),
    "huge_10mb": lambda: ("huge_10mb.yml", (rule_text("Huge") + "description: '" + "A" * 10_000_000 + "'\n").encode()),
    "many_values": lambda: ("many_values.yml", _many_values().encode()),
    "deep_nesting": lambda: (
        "deep_nesting.yml",
        rule_text("Deep", "    selection: " + "[" * 200 + "{a: 1}" + "]" * 200 + "\n    condition: selection\n").encode(),
    ),
    "deeper_than_libyaml": lambda: (
        "deeper_than_libyaml.yml",
        rule_text("Deeper", "    selection: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    ),
    "deep_condition": lambda: (
        "deep_condition.yml",
        rule_text("Deep condition", "    selection: {a: b}\n    condition: " + "(" * 3000 + "selection" + ")" * 3000 + "\n").encode(),
    ),
    "not_chain": lambda: (
        "not_chain.yml",
        rule_text("Not chain", "    selection: {a: b}\n    condition: " + "not " * 3000 + "selection\n").encode(),
    ),
    "latin1": lambda: ("latin1.yml", rule_text("Caf\u00e9 r\u00e8gle").encode("latin-1")),
    "utf16": lambda: ("utf16.yml", rule_text("UTF-16 rule").encode("utf-16")),
    "symlink_outside": lambda: ("symlink_outside.yml", b""),  # made a link by generate()
    "fifo": lambda: ("fifo.yml", b""),  # made a FIFO by generate(): reading it would block the build
    "hostile_file_name": lambda: ("<img src=x onerror=alert(1)>.yml", rule_text("Hostile file name").encode()),
    "long_file_name": lambda: ("x" * 240 + ".yml", rule_text("Long file name").encode()),
    "shell_file_name": lambda: ("$(touch pwned);x.yml", rule_text("Shell file name").encode()),
}
EVENTS = "events/6f1d0000-0000-4000-8000-000000000102"  # the example events of rules/quoted_event_id.yml
GENERATED_EVENTS = {"event_link_outside": f"{EVENTS}/positive/link_outside.json", "event_fifo": f"{EVENTS}/negative/fifo.json"}


@dataclass
class Built:
    kb: Path
    docs: Path
    site: Path
    returncode: int
    stderr: str
    problems: list[dict]  # one per problem line: path (relative to kb), line, severity, kind, message
    files: dict[str, dict]  # every case: path relative to kb -> its expectation


def generate(kb: Path) -> dict[str, dict]:
    """Write the run-time cases into kb/rules/generated/; their expectations keyed by path relative to kb."""
    folder = kb / "rules" / "generated"
    folder.mkdir()
    cases = {}
    for case, make in GENERATED.items():
        name, data = make()
        if case == "symlink_outside":
            secret = kb.parent / "outside" / "secret.yml"
            secret.parent.mkdir()
            secret.write_text(rule_text("Leaked secret"), encoding="utf-8")
            (folder / name).symlink_to(secret)
        elif case == "fifo":
            os.mkfifo(folder / name)
        else:
            (folder / name).write_bytes(data)
        cases[f"rules/generated/{name}"] = EXPECTED["generated"][case]
    secret_event = kb.parent / "outside" / "event.json"
    secret_event.write_text('{"CommandLine": "leaked event"}', encoding="utf-8")
    (kb / GENERATED_EVENTS["event_link_outside"]).symlink_to(secret_event)
    os.mkfifo(kb / GENERATED_EVENTS["event_fifo"])
    cases.update((path, EXPECTED["generated"][case]) for case, path in GENERATED_EVENTS.items())
    return cases


DOCS_PLANTED = {"leak.md": "a link to a file outside docs/", "outside": "a link to a folder outside docs/", "fifo.md": "a FIFO"}


def plant_in_docs(docs: Path, root: Path) -> None:
    """Hand-written entries of docs/ that must not reach the site: links leading out of it, a FIFO."""
    secret = root / "docs-secret"
    secret.mkdir()
    (secret / "secret.md").write_text("# Leaked docs secret\n", encoding="utf-8")
    docs.mkdir(parents=True)
    (docs / "leak.md").symlink_to(secret / "secret.md")
    (docs / "outside").symlink_to(secret)
    os.mkfifo(docs / "fifo.md")
    (docs / "inside.md").symlink_to("notes.md")  # a link inside docs/ is kept
    (docs / "notes.md").write_text("# Hand-written notes\n", encoding="utf-8")


def atc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the atc command line in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "atc", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def kb_options(kb: Path) -> list[str]:
    """The options that point atc at a knowledge base laid out like tests/hostile/."""
    return [
        "--rules",
        str(kb / "rules"),
        "--data-needed",
        str(kb / "data_needed"),
        "--logging-policies",
        str(kb / "logging_policies"),
        "--triggers",
        str(kb / "atomics"),
    ]


def problems_of(stderr: str, kb: Path) -> list[dict]:
    """The problem lines of atc's output about files below kb."""
    found = []
    for text in stderr.splitlines():
        match = PROBLEM_LINE.match(text)
        if match and match["path"].startswith(str(kb)):
            found.append({**match.groupdict(), "path": Path(match["path"]).relative_to(kb).as_posix()})
    return found


@pytest.fixture(scope="session")
def hostile_build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The corpus plus its run-time cases, built into a site with every target."""
    root = tmp_path_factory.mktemp("hostile")
    kb = root / "kb"
    shutil.copytree(CORPUS, kb, ignore=shutil.ignore_patterns("expected.yml"))
    files = {**EXPECTED["files"], **generate(kb)}
    docs, site = root / "out" / "docs", root / "out" / "site"
    plant_in_docs(docs, root)
    result = atc(
        "build",
        *kb_options(kb),
        "--events",
        str(kb / "events"),
        "--docs-dir",
        str(docs),
        "--site-dir",
        str(site),
        "--jobs",
        "2",
        "--verbose",
        "--quiet",
        cwd=root,
    )
    return Built(kb, docs, site, result.returncode, result.stderr, problems_of(result.stderr, kb), files)
