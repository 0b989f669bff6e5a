"""`atc diff` and `atc build --only-changed` on a temporary git repository with a small knowledge base."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import markdown
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atc.commands import main
from atc.engine import run_build
from atc.history.diff import (
    AddedQueries,
    BrokenRelation,
    ConversionChange,
    DiffReport,
    FieldChange,
    Named,
    ProblemEntry,
    QueryDiff,
    Rename,
    RuleChange,
    RuleRef,
    TargetQuery,
    Unreadable,
)
from atc.history.gitrev import GitError, blob_id
from atc.render.diff_report import MARKER, github_text, to_markdown
from atc.settings import REPO_ROOT, load_config_file
from tests.html_safety import visible_text

TARGETS = "splunk,esql"  # esql cannot express keyword (field-less) detections; splunk can

PROCESS = """\
title: {title}
id: {id}
status: test
description: {description}
author: atc tests
date: 2026-11-28
tags:
    - attack.execution
    - attack.{technique}
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '{image}'
        CommandLine|contains: '{needle}'
    condition: selection
level: high
"""

CLEARED = """\
title: Security Log Cleared
id: 22222222-0000-4000-8000-000000000002
description: The Security log was cleared.
tags:
    - attack.defense-evasion
    - attack.t1070.001
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 1102
        Provider_Name: Microsoft-Windows-Eventlog
    condition: selection
level: high
"""

CLEARED_KEYWORDS = CLEARED.replace(
    "    selection:\n        EventID: 1102\n        Provider_Name: Microsoft-Windows-Eventlog\n    condition: selection",
    "    keywords:\n        - 'audit log was cleared'\n    condition: keywords",
)

KERNEL_MODULE = """\
title: Kernel Module Loaded
id: 33333333-0000-4000-8000-000000000003
description: insmod or modprobe loads a kernel module.
tags:
    - attack.persistence
    - attack.t1547.006
logsource:
    product: linux
    service: auditd
detection:
    selection:
        type: EXECVE
        a0: insmod
    condition: selection
level: medium
"""

ENCODED = PROCESS.format(
    title="Encoded PowerShell",
    id="11111111-0000-4000-8000-000000000001",
    description="PowerShell with an encoded command.",
    technique="t1059.001",
    image="\\powershell.exe",
    needle="-EncodedCommand",
)
ENCODED_CHANGED = PROCESS.format(
    title="Encoded PowerShell",
    id="11111111-0000-4000-8000-000000000001",
    description="PowerShell started with a Base64 encoded command.",
    technique="t1059.001",
    image="\\powershell.exe",
    needle="-enc",
).replace("    - attack.t1059.001\n", "    - attack.t1059.001\n    - attack.t1140\n")
CERTUTIL = PROCESS.format(
    title="Certutil Download",
    id="44444444-0000-4000-8000-000000000004",
    description="certutil fetches a file.",
    technique="t1105",
    image="\\certutil.exe",
    needle="urlcache",
)
PSEXEC = PROCESS.format(
    title="PsExec Service",
    id="55555555-0000-4000-8000-000000000005",
    description="A renamed PsExec service.",
    technique="t1077",
    image="\\psexesvc.exe",
    needle="-accepteula",  # T1077 is revoked: it counts as T1021.002
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rule repository with atc.yml, the default Data Needed, logging policies and triggers, and four rules committed."""
    root = tmp_path / "kb"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "atc tests")
    git(root, "config", "user.email", "tests@example.invalid")
    for folder in ("data_needed", "logging_policies", "triggers"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    write(root, "atc.yml", f"rules: rules\ntargets: [{TARGETS}]\njobs: 1\ncache_dir: {tmp_path / 'cache'}\n")
    write(root, "rules/windows/encoded.yml", ENCODED)
    write(root, "rules/windows/cleared.yml", CLEARED)
    write(root, "rules/linux/kernel_module.yml", KERNEL_MODULE)
    write(root, "rules/windows/certutil.yml", CERTUTIL)
    commit(root, "base")
    monkeypatch.chdir(root)
    return root


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["diff", *args, "--format", "json", "--jobs", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def the_change(repo: Path) -> str:
    """Add, change, move, delete and break rules in one commit; return the base commit."""
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "rules/windows/psexec.yml", PSEXEC)
    write(repo, "rules/windows/encoded.yml", ENCODED_CHANGED)
    write(repo, "rules/windows/cleared.yml", CLEARED_KEYWORDS)
    git(repo, "mv", "rules/windows/certutil.yml", "rules/windows/lolbin_certutil.yml")
    git(repo, "rm", "-q", "rules/linux/kernel_module.yml")
    commit(repo, "the change")
    return base


def test_added_changed_moved_removed_exactly(repo, capsys):
    base = the_change(repo)
    report = run_json(capsys, base, "HEAD")
    assert [(r["path"], r["id"]) for r in report["added"]] == [("rules/windows/psexec.yml", "55555555-0000-4000-8000-000000000005")]
    assert [(r["path"], r["title"]) for r in report["removed"]] == [("rules/linux/kernel_module.yml", "Kernel Module Loaded")]
    assert [(r["old_path"], r["new_path"]) for r in report["renamed"]] == [
        ("rules/windows/certutil.yml", "rules/windows/lolbin_certutil.yml")
    ]
    assert [c["path"] for c in report["changed"]] == ["rules/windows/cleared.yml", "rules/windows/encoded.yml"]
    assert (report["rules_before"], report["rules_after"]) == (4, 4)


def test_changed_rule_fields_and_query_diffs(repo, capsys):
    base = the_change(repo)
    report = run_json(capsys, base, "HEAD")
    encoded = next(c for c in report["changed"] if c["path"] == "rules/windows/encoded.yml")
    fields = {f["field"]: (f["before"], f["after"]) for f in encoded["fields"]}
    assert set(fields) == {"description", "tags", "detection", "linked ATT&CK techniques", "linked triggers"}
    assert fields["linked ATT&CK techniques"] == ("T1059.001", "T1059.001, T1140")
    assert fields["linked triggers"] == ("T1059.001", "T1059.001, T1140")
    assert fields["description"] == ("PowerShell with an encoded command.", "PowerShell started with a Base64 encoded command.")
    assert "-EncodedCommand" in fields["detection"][0] and "-enc" in fields["detection"][1]
    diffs = {q["target"]: q["diff"] for q in encoded["queries"]}
    assert set(diffs) == {"splunk", "esql"}
    lines = diffs["splunk"].splitlines()
    assert lines[:2] == ["--- a/rules/windows/encoded.yml", "+++ b/rules/windows/encoded.yml"]
    assert any(line.startswith("-") and "EncodedCommand" in line for line in lines[2:])
    assert any(line.startswith("+") and "*-enc*" in line for line in lines[2:])


def test_newly_failing_target_is_flagged(repo, capsys):
    base = the_change(repo)
    report = run_json(capsys, base, "HEAD")
    assert [(c["target"], c["path"]) for c in report["newly_failing"]] == [("esql", "rules/windows/cleared.yml")]
    assert report["newly_failing"][0]["error"]
    cleared = next(c for c in report["changed"] if c["path"] == "rules/windows/cleared.yml")
    assert [q["target"] for q in cleared["queries"]] == ["splunk", "esql"]  # esql: the query is gone, so it differs too
    assert report["newly_working"] == []


def test_newly_working_when_the_break_is_reverted(repo, capsys):
    write(repo, "rules/windows/cleared.yml", CLEARED_KEYWORDS)
    broken = commit(repo, "break esql")
    write(repo, "rules/windows/cleared.yml", CLEARED)
    report = run_json(capsys, broken)  # against the working tree
    assert [(c["target"], c["path"]) for c in report["newly_working"]] == [("esql", "rules/windows/cleared.yml")]
    assert report["newly_failing"] == []


def test_coverage_data_needed_and_trigger_deltas(repo, capsys):
    base = the_change(repo)
    report = run_json(capsys, base, "HEAD")
    assert report["coverage_gained"] == [
        {"id": "T1021.002", "name": "SMB/Windows Admin Shares"},
        {"id": "T1140", "name": "Deobfuscate/Decode Files or Information"},
    ]
    assert [t["id"] for t in report["coverage_lost"]] == ["T1547.006"]  # revoked T1077 counted as T1021.002, above
    assert (report["coverage_before"], report["coverage_after"]) == (4, 5)
    assert report["data_needed_lost"] == [  # the keyword rule names no event any more; the auditd rule is gone
        "DN_0008_1102_windows_security_audit_log_cleared",
        "DN_0101_linux_auditd_execve",
        "DN_0102_linux_auditd_syscall",
    ]
    assert report["data_needed_linked"] == []
    assert [t["id"] for t in report["triggers_linked"]] == ["T1140"]
    assert [t["id"] for t in report["triggers_lost"]] == ["T1547.006"]


def test_markdown_report(repo, capsys, tmp_path):
    base = the_change(repo)
    out = tmp_path / "diff.md"
    assert main(["diff", base, "HEAD", "--output", str(out), "--jobs", "1"]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith(MARKER + "\n")
    for heading in (
        "### Rules added (1)",
        "### Rules removed (1)",
        "### Rules moved or renamed (1)",
        "### Rules changed (2)",
        "### Conversions newly failing (1)",
        "### ATT&amp;CK techniques newly covered (2)",
        "### ATT&amp;CK techniques no longer covered (1)",
    ):
        assert heading in text
    assert "```diff\n--- a/rules/windows/encoded.yml\n+++ b/rules/windows/encoded.yml\n" in text
    assert "| esql | Security Log Cleared | rules/windows/cleared.yml |" in text


def test_rule_text_is_escaped_in_markdown(repo, capsys):
    write(
        repo,
        "rules/windows/encoded.yml",
        ENCODED.replace("PowerShell with an encoded command.", "'<script>alert(1)</script> | [x](javascript:y)'"),
    )
    assert main(["diff", "HEAD", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "<script>" not in text and "](javascript" not in text
    assert "&lt;script&gt;" in text


def test_working_tree_with_untracked_rule_and_new_problem(repo, capsys):
    write(repo, "rules/windows/copy.yml", ENCODED.replace("title: Encoded PowerShell", "title: Encoded PowerShell Copy"))
    report = run_json(capsys, "HEAD")
    assert report["head"] == "working tree"
    assert [r["path"] for r in report["added"]] == ["rules/windows/copy.yml"]
    duplicates = [p for p in report["new_problems"] if p["kind"] == "duplicate-id"]
    assert duplicates == [
        {
            "path": "rules/windows/encoded.yml",
            "kind": "duplicate-id",
            "severity": "error",
            "message": "rule id 11111111-0000-4000-8000-000000000001 is also used by rules/windows/copy.yml; give each rule its own id",
            "line": None,
        }
    ]
    assert report["changed"] == [] and report["removed"] == []


def test_a_problem_keeps_its_line(repo, capsys):
    """The report names the line of broken YAML, as `atc check` does: "fix the syntax at this line" needs the line."""
    write(repo, "rules/windows/cleared.yml", CLEARED.replace("detection:", "detection:\n    bad: [unclosed", 1))
    broken = [p for p in run_json(capsys, "HEAD")["new_problems"] if p["path"] == "rules/windows/cleared.yml"]
    assert len(broken) == 1 and "invalid YAML" in broken[0]["message"] and isinstance(broken[0]["line"], int)
    line = broken[0]["line"]
    assert main(["diff", "HEAD", "--jobs", "1"]) == 0
    assert f"| rules/windows/cleared.yml:{line} | error | rule | invalid YAML" in capsys.readouterr().out.replace("\\_", "_")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda text: text.replace("detection:", "detection:\n    bad: [unclosed", 1),  # YAML that does not parse
        lambda text: "- " + text.replace("\n", "\n  "),  # a list, not a rule
    ],
)
def test_a_rule_the_change_broke_is_not_reported_removed(repo, capsys, breakage):
    write(repo, "rules/windows/cleared.yml", breakage(CLEARED))
    report = run_json(capsys, "HEAD")
    assert report["removed"] == [] and [r["path"] for r in report["unreadable"]] == ["rules/windows/cleared.yml"]
    assert report["unreadable"][0]["reason"] and report["unreadable"][0]["title"]
    (repo / "rules/windows/cleared.yml").unlink()  # really removed: reported so
    report = run_json(capsys, "HEAD")
    assert [r["path"] for r in report["removed"]] == ["rules/windows/cleared.yml"] and report["unreadable"] == []


def test_moved_rule_without_id_is_matched_by_text(repo, capsys):
    no_id = "\n".join(line for line in CERTUTIL.splitlines() if not line.startswith("id:")) + "\n"
    write(repo, "rules/windows/certutil.yml", no_id)
    commit(repo, "drop the id")
    git(repo, "mv", "rules/windows/certutil.yml", "rules/windows/moved.yml")
    report = run_json(capsys, "HEAD")
    assert [(r["old_path"], r["new_path"]) for r in report["renamed"]] == [("rules/windows/certutil.yml", "rules/windows/moved.yml")]
    assert report["added"] == [] and report["removed"] == [] and report["changed"] == []


def test_no_change_and_deterministic_json(repo, capsys):
    first = run_json(capsys, "HEAD")
    assert first["added"] == first["changed"] == first["new_problems"] == []
    assert main(["diff", "HEAD", "--format", "json", "--jobs", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["diff", "HEAD", "--jobs", "1"]) == 0
    assert "No change to the knowledge base." in capsys.readouterr().out


def test_revision_settings_come_from_its_own_atc_yml(repo, capsys):
    (repo / "rules").rename(repo / "detections")
    write(repo, "atc.yml", (repo / "atc.yml").read_text().replace("rules: rules", "rules: detections"))
    report = run_json(capsys, "HEAD")  # same rules, moved to another folder named by the new atc.yml
    assert report["added"] == report["removed"] == report["changed"] == []
    assert len(report["renamed"]) == 4


def test_unknown_revision_and_not_a_repository(repo, capsys, tmp_path, monkeypatch):
    assert main(["diff", "no-such-branch"]) == 2
    assert "unknown revision 'no-such-branch'" in capsys.readouterr().err
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert main(["diff", "HEAD"]) == 2
    assert "not inside a git repository" in capsys.readouterr().err


def test_only_changed_build_keeps_changed_rules_their_links_and_indexes(repo, tmp_path):
    base = the_change(repo)
    settings = replace(load_config_file(repo / "atc.yml"), docs_dir=tmp_path / "docs", build_site=False)
    result = run_build(settings, quiet=True, only_changed=base)
    rule_pages = sorted(page for page in result.pages if page.startswith("Detection_Rules/") and page.count("/") == 1)
    assert rule_pages == [
        "Detection_Rules/cleared.md",
        "Detection_Rules/encoded.md",
        "Detection_Rules/index.md",
        "Detection_Rules/lolbin_certutil.md",
        "Detection_Rules/psexec.md",
    ]
    assert "Detection_Rules/by/level.md" in result.pages  # the index pages are always rebuilt
    assert {"index.md", "Data_Needed/index.md", "Triggers/index.md", "Logging_Policies/index.md"} <= set(result.pages)
    assert {page for page in result.pages if page.startswith("Triggers/T")} == {
        "Triggers/T1059.001.md",
        "Triggers/T1070.001.md",
        "Triggers/T1105.md",
        "Triggers/T1140.md",
    }
    assert not any(page.startswith("Triggers/T1547") for page in result.pages)
    changed = [rule for rule in result.kb.rules if rule.conversions]
    linked_dn = {f"Data_Needed/{item}.md" for rule in changed for item in rule.data_needed}
    assert linked_dn and {page for page in result.pages if page.startswith("Data_Needed/DN_")} == linked_dn
    assert any(page.startswith("Logging_Policies/LP_") for page in result.pages)
    assert {rule.slug for rule in changed} == {"cleared", "encoded", "lolbin_certutil", "psexec"}


def test_a_linked_rule_folder_is_compared_through_its_link(repo, capsys):
    git(repo, "mv", "rules", "sigma")
    (repo / "rules").symlink_to("sigma")
    base = commit(repo, "rules/ is a link to sigma/")
    write(repo, "rules/windows/encoded.yml", ENCODED_CHANGED)
    for head in ([], [commit(repo, "the change")]):
        report = run_json(capsys, base, *head)
        assert report["added"] == report["removed"] == report["renamed"] == []
        assert [change["path"] for change in report["changed"]] == ["sigma/windows/encoded.yml"]


def test_a_rule_folder_linked_out_of_the_repository_at_a_revision_is_one_line(repo, capsys, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    git(repo, "mv", "rules", "sigma")
    (repo / "rules").symlink_to(tmp_path / "elsewhere")
    base = commit(repo, "rules/ leads out")
    assert main(["diff", base, "--jobs", "1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("atc: rules: at ") and "a symbolic link leads out of the repository" in line


def _two_blobs_sharing_a_prefix(repo: Path) -> str:
    """Write two blobs whose ids start alike; return the shared four-digit prefix."""
    seen: dict[str, bytes] = {}
    for number in range(100_000):
        data = b"%d\n" % number
        prefix = blob_id(data)[:4]
        if prefix in seen:
            for text in (seen[prefix], data):
                subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, check=True, capture_output=True)
            return prefix
        seen[prefix] = data
    raise AssertionError("no shared prefix")


def test_a_revision_that_cannot_be_resolved_says_why(repo, capsys, tmp_path, monkeypatch):
    prefix = _two_blobs_sharing_a_prefix(repo)
    assert main(["diff", prefix]) == 2
    assert f"atc: revision '{prefix}' is ambiguous" in capsys.readouterr().err
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow))
    monkeypatch.chdir(shallow)
    assert main(["diff", "HEAD~1"]) == 2
    err = capsys.readouterr().err
    assert "this is a shallow clone; fetch the history (git fetch --unshallow" in err and "`fetch-depth: 0` for actions/checkout" in err
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    monkeypatch.chdir(empty)
    assert main(["diff", "HEAD"]) == 2 and main(["build", "--only-changed", "main", "--rules", "."]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "atc: unknown revision 'HEAD': the repository has no commit yet",
        "atc: --only-changed: unknown revision 'main': the repository has no commit yet",
    ]


def test_rules_in_a_submodule_stop_diff_and_preview_with_one_line(repo, capsys):
    inner = repo / "vendor"
    inner.mkdir()
    git(inner, "init", "-q")
    git(inner, "config", "user.name", "atc tests")
    git(inner, "config", "user.email", "tests@example.invalid")
    write(inner, "rules/certutil.yml", CERTUTIL.replace("44444444-0000", "88888888-0000"))
    commit(inner, "vendor rules")
    write(repo, "atc.yml", (repo / "atc.yml").read_text().replace("rules: rules", "rules: [rules, vendor/rules]"))
    base = commit(repo, "the vendor's rules as a submodule")
    assert main(["diff", base, "--jobs", "1"]) == 2
    assert capsys.readouterr().err.startswith("atc: vendor: at ")
    assert main(["build", "--only-changed", base, "--no-site", "-q", "--jobs", "1"]) == 2
    assert capsys.readouterr().err.startswith(f"atc: --only-changed: {inner}: a git repository of its own (a submodule)")


def test_a_revision_whose_atc_yml_is_unusable_names_it_at_that_revision(repo, capsys):
    """The message named the temporary copy (/tmp/atc-diff-.../base/atc.yml), gone by then and no help to find the commit."""
    good = (repo / "atc.yml").read_text()
    write(repo, "atc.yml", "rules: [rules\n")
    commit(repo, "a broken atc.yml")
    write(repo, "atc.yml", good)
    commit(repo, "fixed")
    assert main(["diff", "HEAD~1", "--jobs", "1"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("atc: HEAD~1:atc.yml:2: not valid YAML: ") and line.endswith("; fix the syntax at this line")
    assert "expected ',' or ']'" in line  # the YAML parser's own words


def test_only_changed_reads_the_repository_holding_atc_yml_not_the_current_folder(repo, tmp_path, monkeypatch):
    """From another repository, BASE was resolved there and no rule of this one differed: an empty preview, silently."""
    base = the_change(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(elsewhere, "init", "-q")
    monkeypatch.chdir(elsewhere)
    docs = tmp_path / "preview"
    assert main(["build", "--config", str(repo / "atc.yml"), "--only-changed", base, "--no-site", "--docs-dir", str(docs)]) == 0
    pages = sorted(page.name for page in (docs / "Detection_Rules").glob("*.md"))
    assert pages == ["cleared.md", "encoded.md", "index.md", "lolbin_certutil.md", "psexec.md"]


def test_only_changed_refuses_rules_outside_the_repository(repo, tmp_path):
    """They were left out of the comparison: "0 rules differ", an empty preview."""
    outside = tmp_path / "outside"
    shutil.copytree(repo / "rules", outside)
    settings = replace(load_config_file(repo / "atc.yml"), rules=(outside,), docs_dir=tmp_path / "docs", build_site=False)
    with pytest.raises(GitError, match=f"^{outside}/linux: outside the repository {repo}: its rules have no revision to compare with$"):
        run_build(settings, quiet=True, only_changed="HEAD")


@pytest.mark.parametrize(("output", "why"), [("missing/diff.md", "No such file or directory"), (".", "Is a directory")])
def test_a_report_that_cannot_be_written_is_one_line(repo, capsys, output, why):
    """It was a traceback (FileNotFoundError, IsADirectoryError) once the whole comparison was done."""
    assert main(["diff", "HEAD", "--output", output, "--jobs", "1"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == f"atc: {output}: cannot write the report: {why}"


def test_rules_at_the_repositorys_top_leave_out_the_other_inputs_hidden_folders_and_what_atc_built(repo, capsys):
    """`rules: .` (what atc init writes for rule files at the top) read atc.yml, the Data Needed, logging policies and
    atomics beside the rules, .github/ workflows and the YAML exports in docs/ as rules, each "not a Sigma rule"; the
    revision side read them from git too."""
    for name in ("encoded.yml", "cleared.yml", "certutil.yml"):
        (repo / "rules" / "windows" / name).rename(repo / name)
    shutil.rmtree(repo / "rules")
    settings = (repo / "atc.yml").read_text(encoding="utf-8").replace("rules: rules", "rules: .").replace("targets: [", "targets: [loki, ")
    write(repo, "atc.yml", settings)
    write(repo, ".github/workflows/pages.yml", "name: Publish\non: {push: {branches: [main]}}\n")
    assert main(["build", "--no-site", "-q", "--jobs", "1"]) == 0
    assert (repo / "docs" / "exports" / "loki" / "ruler.yml").is_file()  # YAML atc wrote below the rule folder
    commit(repo, "rules at the top, docs committed")
    capsys.readouterr()
    assert main(["check"]) == 0
    err = capsys.readouterr().err
    assert "check: 3 rules" in err and "[rule]" not in err, err
    write(repo, "encoded.yml", ENCODED_CHANGED)
    report = run_json(capsys, "HEAD")
    assert report["new_problems"] == report["fixed_problems"] == [] and len(report["changed"]) == 1


def test_a_changed_pipeline_file_of_a_team_target_shows_in_every_query_it_changes(repo, capsys):
    """Both sides were converted with the working tree's pipeline file: a pull request remapping a field said
    "No change to the knowledge base" though every query of the team's target changed."""
    mapping = "name: ours\npriority: 30\ntransformations:\n  - {id: m, type: field_name_mapping, mapping: {Image: %s}}\n"
    write(repo, "pipelines/fields.yml", mapping % "process.path")
    ours = "  - {key: ours, backend: splunk, pipelines: [splunk_windows, pipelines/fields.yml]}\n"
    write(repo, "atc.yml", (repo / "atc.yml").read_text(encoding="utf-8").replace(f"targets: [{TARGETS}]", f"targets:\n{ours}"))
    commit(repo, "the team's target")
    write(repo, "pipelines/fields.yml", mapping % "proc.image")
    report = run_json(capsys, "HEAD")
    changed = {change["path"]: change for change in report["changed"]}
    assert set(changed) == {"rules/windows/certutil.yml", "rules/windows/encoded.yml"}  # the rules naming Image
    (query,) = changed["rules/windows/certutil.yml"]["queries"]
    assert query["target"] == "ours" and "-process.path=" in query["diff"] and "+proc.image=" in query["diff"]
    assert report["added"] == report["removed"] == report["new_problems"] == []


def _outside_code(text: str) -> str:
    """The Markdown outside fenced code blocks (where GitHub finds mentions and issue references)."""
    return "".join(part for index, part in enumerate(re.split(r"^```.*$", text, flags=re.MULTILINE)) if index % 2 == 0)


def test_hostile_rule_text_mentions_no_one_and_references_no_issue(repo, capsys):
    hostile = "'@acme/secops approved, fixes #1 and acme/rules#2, cc @root'"
    write(
        repo,
        "rules/windows/@admin #3.yml",
        ENCODED.replace("title: Encoded PowerShell", f"title: {hostile}").replace("11111111", "66666666"),
    )
    write(repo, "rules/windows/certutil.yml", CERTUTIL.replace("certutil fetches a file.", hostile))
    assert main(["diff", "HEAD", "--jobs", "1"]) == 0
    text = _outside_code(capsys.readouterr().out)
    assert "acme/secops" in text and "rules/windows/" in text  # the rules are reported, only their signs neutralised
    assert not re.search(r"(?<![\w&])@\w|(?<!&)#\d", text), text


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["@", "#", "GH-", "gh-", "&#35;", "&", "1", "12", "acme", "/", " ", "-", ".", "\\", "`"]), max_size=8).map(
        "".join
    )
)
def test_text_in_the_report_shows_github_no_mention_or_issue_reference(value):
    """As GitHub reads the report's text (Markdown rendered, entities decoded), no @user, #12 or GH-12 is left whole."""
    shown = visible_text(markdown.markdown(str(github_text(value))))
    assert not re.search(r"@\w|#\d|(?i:gh)-\d", shown), (value, shown)


def _big_report(count: int) -> DiffReport:
    report = DiffReport("main (0123456789ab)", "working tree", ["splunk"], count, 2 * count)
    for index in range(count):
        path, title = f"rules/rule_{index:04}.yml", f"Rule {index} | with ``` fences"
        report.added.append(RuleRef(f"rules/new_{index:04}.yml", f"id-new-{index}", title))
        report.added_queries.append(AddedQueries(f"rules/new_{index:04}.yml", f"id-new-{index}", title, [TargetQuery("splunk", "a ``` b")]))
        query = "\n".join(f'+Image="*\\\\tool{line}.exe"' for line in range(20))
        report.changed.append(
            RuleChange(
                path, f"id-{index}", title, path, [FieldChange("level", "low", "high")], [QueryDiff("splunk", f"@@ -1 +1 @@\n{query}")]
            )
        )
    return report


@pytest.mark.parametrize("count, limit", [(3, 60_000), (400, 60_000), (400, 8_000), (2_000, 3_000)])
def test_a_report_kept_within_max_chars_is_whole_markdown_and_says_what_it_left_out(count, limit):
    report = _big_report(count)
    whole = to_markdown(report, REPO_ROOT / "templates")
    text = to_markdown(report, REPO_ROOT / "templates", limit)
    assert len(text) <= limit
    assert text.startswith(MARKER + "\n") and f"### Rules changed ({count})" in text and f"### Rules added ({count})" in text
    assert len(re.findall(r"^```", text, flags=re.MULTILINE)) % 2 == 0  # no code block left open
    if len(whole) <= limit:
        assert text == whole
    else:
        assert "left out to keep this report short" in text
        shown = text.count(" (added)\n")
        assert "```" in text or limit < 10_000  # some rules still show their queries
        assert shown == count or f"_The queries of {count - shown} added rules are left out" in text
        assert all(line.startswith("|") or not line.startswith(("| ", "|:")) for line in text.splitlines())
        assert text.endswith("_\n") or text.endswith("|\n")  # a whole note or table row last, not a cut one


def test_a_report_with_every_section_is_kept_within_the_smallest_max_chars():
    """Every kind of change at once: the headings and counts alone pass 2,000 characters, and the report still keeps within them."""
    report = _big_report(50)
    title = "A long title " * 20
    report.removed = report.added
    report.unreadable = [Unreadable("rules/u.yml", "u", title, "why " * 50)] * 50
    report.renamed = [Rename("rules/a.yml", "rules/b.yml", "r", title)] * 50
    report.newly_failing = report.newly_working = [ConversionChange("splunk", "rules/c.yml", "c", title, "error")] * 50
    report.new_problems = report.fixed_problems = [ProblemEntry("rules/p.yml", "sigma", "message " * 20, "error", 3)] * 50
    report.coverage_gained = report.coverage_lost = report.triggers_linked = report.triggers_lost = [Named("T1000", title)] * 50
    report.data_needed_linked = report.data_needed_lost = [f"DN_0001 {title}"] * 50
    report.relations_broken = [BrokenRelation("rules/r.yml", "r", title, "derived", "o", title)] * 50
    for limit in (2_000, 2_900, 4_000):
        text = to_markdown(report, REPO_ROOT / "templates", limit)
        assert len(text) <= limit and text.startswith(MARKER + "\n## Knowledge base diff"), (limit, len(text))


def test_a_removed_rule_that_another_rules_related_names_is_reported(repo, capsys):
    related = "related:\n    - id: 44444444-0000-4000-8000-000000000004\n      type: similar\n"
    write(repo, "rules/windows/encoded.yml", ENCODED + related)
    commit(repo, "encoded names certutil")
    git(repo, "mv", "rules/windows/certutil.yml", "rules/windows/lolbin_certutil.yml")  # moved: still linked
    assert run_json(capsys, "HEAD")["relations_broken"] == []
    git(repo, "rm", "-q", "-f", "rules/windows/lolbin_certutil.yml")
    report = run_json(capsys, "HEAD")
    assert report["relations_broken"] == [
        {
            "path": "rules/windows/encoded.yml",
            "id": "11111111-0000-4000-8000-000000000001",
            "title": "Encoded PowerShell",
            "type": "similar",
            "other_id": "44444444-0000-4000-8000-000000000004",
            "other_title": "Certutil Download",
        }
    ]
    assert main(["diff", "HEAD", "--jobs", "1"]) == 0
    assert "| Encoded PowerShell | rules/windows/encoded.yml | similar | Certutil Download (44444444-" in capsys.readouterr().out


def test_the_queries_of_an_added_rule_are_shown_for_review(repo, capsys):
    base = the_change(repo)
    report = run_json(capsys, base, "HEAD")
    [added] = report["added_queries"]
    assert (added["path"], added["title"]) == ("rules/windows/psexec.yml", "PsExec Service")
    queries = {query["target"]: query["query"] for query in added["queries"]}
    assert set(queries) == {"splunk", "esql"} and "psexesvc.exe" in queries["splunk"]
    assert main(["diff", base, "HEAD", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "#### PsExec Service (added)\n" in text
    assert f"Query for **splunk**:\n\n```text\n{queries['splunk']}\n```" in text


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--max-chars", "500"], "500 leaves no room for the report's summary: give at least 2000"),
        (["--max-chars", "many"], "not a whole number: 'many'"),
        (["--max-chars", "60000", "--format", "json"], "atc: --max-chars shortens the Markdown report; the JSON report is always whole"),
    ],
)
def test_a_max_chars_that_cannot_be_kept_is_refused(repo, capsys, args, why):
    with pytest.raises(SystemExit) if "json" not in args else contextlib.nullcontext():
        assert main(["diff", "HEAD", *args]) == 2
    assert why in capsys.readouterr().err
