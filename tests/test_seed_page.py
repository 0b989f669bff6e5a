"""The golden test: the seed rule's page has the structure of the page the user gave us, and its queries work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from atc.engine import BuildResult
from tests.conftest import SEED_PAGE, SEED_SLUG

SEED_ROWS = [
    "Title",
    "Description",
    "ATT&amp;CK Tactic",
    "ATT&amp;CK Technique",
    "Data Needed",
    "Trigger",
    "Severity Level",
    "False Positives",
    "Development Status",
    "References",
    "Author",
]
SEED_TARGETS = ["powershell", "es-qs", "xpack-watcher", "graylog", "splunk", "logpoint", "grep"]
LINK = re.compile(r"\]\(([^)]+)\)")


def _table(page: str) -> list[tuple[str, str]]:
    """The (label, value) rows of the page's leading table."""
    rows = []
    for line in page.split("---\n", 2)[-1].splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|", 1)]
        if cells[0].startswith(":--"):
            continue
        rows.append((cells[0].strip("*"), cells[1]))
    return rows


def _section(page: str, heading: str) -> str:
    match = re.search(rf"^### {re.escape(heading)}(?: \{{[^}}\n]*\}})?\n(.*?)(?=^### |\Z)", page, re.S | re.M)
    assert match, f"no section {heading}"
    return match.group(1)


def _code(section: str) -> str:
    match = re.search(r"^(`{3,})(?:[\w+-]*|\{[^}\n]*\})\n(.*?)^\1$", section, re.S | re.M)
    assert match, "no code block in section"
    return match.group(2)


@pytest.fixture(scope="module")
def page(default_build: BuildResult) -> str:
    return default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]


def test_table_rows_in_seed_order(page: str) -> None:
    assert [label for label, _ in _table(page)] == SEED_ROWS


def test_table_link_targets_match_the_seed(page: str) -> None:
    ours = {target for _, value in _table(page) for target in LINK.findall(value)}
    if SEED_PAGE.is_file():
        seed_table = SEED_PAGE.read_text().split("\n\n", 1)[0]
        expected = set(LINK.findall(seed_table))
    else:
        expected = {
            "https://attack.mitre.org/tactics/TA0008",
            "https://attack.mitre.org/techniques/T1077",
            "https://attack.mitre.org/techniques/T1021/002",
            "../Data_Needed/DN_0032_5145_network_share_object_was_accessed_detailed.md",
            "../Triggers/T1021.002.md",
            "https://blog.menasec.net/2019/02/threat-hunting-3-detecting-psexec.html",
        }
    assert ours == expected


def test_every_hosted_link_target_exists(default_build: BuildResult, page: str) -> None:
    for target in LINK.findall(page):
        if target.startswith("../"):
            assert target[3:] in default_build.pages, target


def test_revoked_technique_is_resolved_and_says_so(page: str) -> None:
    technique = dict(_table(page))["ATT&amp;CK Technique"]
    assert re.search(
        r"\[T1077: Windows Admin Shares\]\([^)]+\) \(revoked in ATT&amp;CK [^,]+, now \[T1021\.002: SMB/Windows Admin Shares\]", technique
    )


def test_sections_in_seed_order(page: str) -> None:
    headings = re.findall(r"^(#{2,3} [^{\n]+?)(?: \{[^}\n]*\})?$", page, re.M)
    assert headings[:2] == ["## Detection Rules", "### Sigma rule"]
    assert [h[4:] for h in headings[2:9]] == SEED_TARGETS


def test_sigma_rule_shown_verbatim(default_build: BuildResult, page: str) -> None:
    rule = next(r for r in default_build.kb.rules if r.slug == SEED_SLUG)
    assert _code(_section(page, "Sigma rule")) == rule.source_text
    assert "# an old one" in rule.source_text


@pytest.mark.skipif(shutil.which("grep") is None, reason="grep is not installed")
def test_grep_query_matches_psexec_pipe_and_not_psexesvc(page: str) -> None:
    query = _code(_section(page, "grep")).strip()
    assert query.startswith("grep -P ")

    def event(name: str, event_id: int = 5145) -> str:
        return json.dumps(
            {
                "Event": {
                    "System": {"EventID": event_id, "Channel": "Security"},
                    "EventData": {"ShareName": "\\\\*\\IPC$", "RelativeTargetName": name},
                }
            }
        )

    lines = [event("renamedsvc-WKS01-4242-stdin"), event("PSEXESVC-WKS01-4242-stdin"), event("PSEXESVC"), event("x-stdout", 4624)]
    run = subprocess.run(["bash", "-c", query], input="\n".join(lines) + "\n", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [lines[0]]


def test_watcher_section_is_curl_then_valid_json(page: str) -> None:
    body = _code(_section(page, "xpack-watcher"))
    first, rest = body.split("\n", 1)
    assert first.startswith("curl ") and "_watcher/watch/c462f537-a1e3-41a6-b5fc-b2c2cef9bf82" in first
    watch = json.loads(rest.rsplit("EOF", 1)[0])
    assert watch["metadata"]["title"] == "Suspicious PsExec Execution"
    assert "5145" in watch["input"]["search"]["request"]["body"]["query"]["bool"]["must"][0]["query_string"]["query"]


@pytest.mark.parametrize("target", ["splunk", "es-qs", "logpoint"])
def test_siem_queries_express_the_seed_logic(page: str, target: str) -> None:
    query = _code(_section(page, target))
    assert "5145" in query
    for suffix in ("-stdin", "-stdout", "-stderr"):
        assert suffix in query
    assert "IPC$" in query and "PSEXESVC" in query
    # the PSEXESVC selection is negated, the stdin/stdout/stderr one is not
    negated = re.search(r"(NOT|-)\s*\((.*PSEXESVC.*)\)", query)
    assert negated and "-stdin" not in negated.group(2)
