"""Property: any small knowledge base built from generated YAML (random structure, random Unicode in every field,
control characters and non-characters included) builds without a traceback, gives each file a page or a problem,
writes front matter that mkdocs' own loader reads back, and plants no markup in the HTML; example events for every
rule make the build verify its grep and SQLite queries too."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import markdown
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mkdocs.utils.meta import get_data

from atc.engine import run_build
from atc.settings import REPO_ROOT, default_settings
from tests.html_safety import injected_markup

PAYLOADS = [
    "<script>alert(1)</script>",
    "[x](javascript:alert(2))",
    "{: autofocus onfocus=alert(3) }",
    "# heading {#planted}",
    "\ufffe",
    "\uffff",
    "\r",
    "\x00",
    "\u2028",
    "\x85",
    "\u202e",
    "---\ntitle: x",
    "1. item",
    "!!! danger",
    "=HYPERLINK(1)",
    "<img src=x onerror=alert(4)>",
    "`",
    "```",
    "|",
    "\\",
    "'",
    '"',
    "- ",
    ": ",
    "%",
    "@",
    "&#60;",
    "T1059",
    "attack.t1059",
]
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(PAYLOADS),
    st.lists(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=8)), min_size=2, max_size=5).map("".join),
)
SCALAR = st.one_of(TEXT, st.integers(-10, 10**6), st.booleans(), st.none(), st.floats(allow_nan=False))
ANY = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


def _maybe(value: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the well-typed value, sometimes anything at all, sometimes left out (None drops the key)."""
    return st.one_of(value, value, value, ANY, st.none())


FIELD = st.tuples(TEXT, st.sampled_from(["", "|contains", "|endswith", "|re", "|windash|contains", "|all", "|cidr"])).map("".join)
RULE = st.fixed_dictionaries(
    {
        "title": _maybe(TEXT),
        "id": _maybe(st.uuids().map(str)),
        "status": _maybe(st.sampled_from(["test", "stable", "experimental"])),
        "description": _maybe(TEXT),
        "author": _maybe(TEXT),
        "level": _maybe(st.sampled_from(["low", "medium", "high"])),
        "tags": _maybe(st.lists(st.one_of(TEXT, st.sampled_from(["attack.t1059", "attack.execution", "attack.t1059.001"])), max_size=3)),
        "references": _maybe(st.lists(TEXT, max_size=2)),
        "falsepositives": _maybe(st.lists(TEXT, max_size=2)),
        "fields": _maybe(st.lists(TEXT, max_size=2)),
        "logsource": _maybe(
            st.fixed_dictionaries(
                {
                    "product": st.sampled_from(["windows", "linux"]),
                    "category": _maybe(st.sampled_from(["process_creation", "file_event"])),
                    "service": _maybe(TEXT),
                }
            )
        ),
        "detection": _maybe(
            st.fixed_dictionaries(
                {
                    "selection": st.dictionaries(
                        FIELD, st.one_of(TEXT, st.lists(TEXT, max_size=3), st.integers(0, 9999)), min_size=1, max_size=3
                    ),
                    "condition": st.sampled_from(["selection", "not selection", "1 of sel*"]),
                }
            )
        ),
    }
)
WELL_TYPED_RULE = st.fixed_dictionaries(
    {  # rules pySigma takes: their queries run on the events
        "title": TEXT,
        "id": st.uuids().map(str),
        "status": st.just("test"),
        "description": TEXT,
        "author": TEXT,
        "tags": st.lists(st.sampled_from(["attack.t1059", "attack.execution"]), max_size=2),
        "falsepositives": st.lists(TEXT, max_size=1),
        "logsource": st.just({"product": "windows", "category": "process_creation"}),
        "detection": st.fixed_dictionaries(
            {
                "selection": st.dictionaries(
                    st.sampled_from(["CommandLine", "Image", "CommandLine|contains", "Image|endswith", "CommandLine|re"]),
                    st.one_of(TEXT, st.lists(TEXT, min_size=1, max_size=2)),
                    min_size=1,
                    max_size=2,
                ),
                "condition": st.just("selection"),
            }
        ),
        "level": st.just("low"),
    }
)
DATA_NEEDED = st.fixed_dictionaries(
    {
        "title": _maybe(TEXT),
        "description": _maybe(TEXT),
        "fields": _maybe(st.lists(TEXT, max_size=3)),
        "logsource": _maybe(st.fixed_dictionaries({"product": st.just("windows"), "category": st.just("process_creation")})),
        "event_ids": _maybe(st.lists(st.one_of(st.integers(0, 70000), TEXT), max_size=2)),
        "loggingpolicy": _maybe(st.lists(TEXT, max_size=1)),
        "references": _maybe(st.lists(TEXT, max_size=2)),
        "sample": _maybe(TEXT),
    }
)
POLICY = st.fixed_dictionaries(
    {
        "title": _maybe(TEXT),
        "description": _maybe(TEXT),
        "eventID": _maybe(st.lists(st.integers(0, 9999), max_size=2)),
        "configuration": _maybe(TEXT),
        "default": _maybe(TEXT),
    }
)
ATOMIC_TEST = st.fixed_dictionaries(
    {
        "name": _maybe(TEXT),
        "auto_generated_guid": _maybe(st.uuids().map(str)),
        "description": _maybe(TEXT),
        "supported_platforms": _maybe(st.just(["windows"])),
        "input_arguments": _maybe(
            st.dictionaries(TEXT, st.fixed_dictionaries({"description": TEXT, "type": st.just("string"), "default": TEXT}), max_size=2)
        ),
        "executor": _maybe(
            st.fixed_dictionaries({"name": st.sampled_from(["powershell", "sh"]), "command": TEXT, "cleanup_command": _maybe(TEXT)})
        ),
    }
)
TRIGGER = st.fixed_dictionaries(
    {"attack_technique": st.just("T1059"), "display_name": _maybe(TEXT), "atomic_tests": _maybe(st.lists(ATOMIC_TEST, max_size=2))}
)
EVENT = st.dictionaries(st.sampled_from(["CommandLine", "Image", "EventID", "a.b"]), st.one_of(TEXT, TEXT, st.integers(), ANY), max_size=3)
KB = st.fixed_dictionaries(
    {
        "rules": st.lists(st.one_of(WELL_TYPED_RULE, WELL_TYPED_RULE, RULE, RULE, ANY), min_size=1, max_size=3),
        "events": st.lists(st.one_of(EVENT, ANY), min_size=1, max_size=2),
        "data_needed": st.lists(DATA_NEEDED, max_size=2),
        "policies": st.lists(POLICY, max_size=1),
        "triggers": st.lists(TRIGGER, max_size=1),
    }
)


def _drop_none(value: Any) -> Any:
    """The document with None-valued keys left out (how _maybe says "absent")."""
    if isinstance(value, dict):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


def _write(folder: Path, name: str, document: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(_drop_none(document), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _markdown() -> markdown.Markdown:
    """Python-Markdown with the extensions and settings of the site's mkdocs.yml, read by mkdocs itself."""
    from mkdocs.config import load_config

    config = load_config(str(REPO_ROOT / "mkdocs.yml"))
    return markdown.Markdown(extensions=config.markdown_extensions, extension_configs=config.mdx_configs)


MARKDOWN = _markdown()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(KB)
def test_any_small_knowledge_base_builds_safely(kb: dict[str, list]) -> None:
    check_knowledge_base(kb)


def check_knowledge_base(kb: dict[str, list]) -> None:
    """Write the generated knowledge base, build it (no site) and check the property."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = [_write(root / "rules", f"r{n}.yml", doc) for n, doc in enumerate(kb["rules"])]
        files += [_write(root / "data_needed", f"DN_{n}.yml", doc) for n, doc in enumerate(kb["data_needed"])]
        files += [_write(root / "logging_policies", f"LP_{n}.yml", doc) for n, doc in enumerate(kb["policies"])]
        files += [_write(root / "triggers" / "T1059", "T1059.yaml", doc) for doc in kb["triggers"]]
        for name in ("data_needed", "logging_policies", "triggers"):
            (root / name).mkdir(exist_ok=True)
        for rule in kb["rules"]:  # the same example events for every rule with an id: verify runs its queries on them
            rule_id = rule.get("id") if isinstance(rule, dict) else None
            for number, sample in enumerate(kb["events"]):
                if isinstance(rule_id, str) and re.fullmatch(r"[0-9a-f-]{36}", rule_id):
                    side = root / "events" / rule_id / ("positive" if number == 0 else "negative")
                    side.mkdir(parents=True, exist_ok=True)
                    (side / "e.json").write_text(json.dumps(_drop_none(sample)), encoding="utf-8")
        (root / "events").mkdir(exist_ok=True)
        built = run_build(replace(default_settings(root), build_site=False, targets=("grep", "sqlite"), jobs=1), quiet=True)

        event(f"rules with a verified query: {sum(bool(rule.verification) for rule in built.kb.rules) > 0}")
        loaded = {rule.path for rule in built.kb.rules} | {item.path for item in built.kb.data_needed.values()}
        loaded |= {policy.path for policy in built.kb.logging_policies.values()} | {trigger.path for trigger in built.kb.triggers.values()}
        named = {Path(problem.path) for problem in built.problems}
        assert [path for path in files if path not in loaded and path not in named] == []
        for name, text in built.pages.items():
            if not name.endswith(".md"):
                continue
            body, meta = get_data(text)
            assert text.startswith("---\n") and isinstance(meta.get("title"), str), (name, text[:300])
            assert "<" not in meta["title"] and not body.startswith("title:"), name
            html = MARKDOWN.reset().convert(body)
            assert injected_markup(html) == [], (name, injected_markup(html))
