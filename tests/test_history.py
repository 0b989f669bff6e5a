"""Rule history from git: a scratch repository with commits that create, edit, retitle, move and delete rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import BuildResult, run_build
from atc.settings import REPO_ROOT, ConfigError, HistorySettings, load_config_file
from tests.test_diff import CERTUTIL, CLEARED, ENCODED, ENCODED_CHANGED, KERNEL_MODULE, PSEXEC

TARGETS = "splunk,esql"
ENCODED_RETITLED = ENCODED_CHANGED.replace("title: Encoded PowerShell", "title: PowerShell Encoded Command").replace(
    "level: high", "level: critical"
)


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else None
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout.strip()


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def commit(repo: Path, message: str, when: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, when=when)
    return git(repo, "rev-parse", "HEAD")


def make_repo(root: Path, cache: Path) -> dict[str, str]:
    """Five commits over three months: create, edit the detection, retitle, move, delete; return their ids by step."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ana Analyst")
    git(root, "config", "user.email", "ana@example.invalid")
    for folder in ("data_needed", "logging_policies", "triggers"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    write(
        root,
        "atc.yml",
        f"rules: rules\ntargets: [{TARGETS}]\njobs: 1\ncache_dir: {cache}\nbuild_site: false\nrepo_url: https://github.com/org/rules/blob/main\n",
    )
    steps = {}
    write(root, "rules/windows/encoded.yml", ENCODED)
    write(root, "rules/windows/certutil.yml", CERTUTIL)
    write(root, "rules/linux/kernel_module.yml", KERNEL_MODULE)
    write(root, "rules/windows/cleared.yml", CLEARED)
    steps["create"] = commit(root, "Add the first rules", "2026-09-10T10:00:00Z")
    write(root, "rules/windows/encoded.yml", ENCODED_CHANGED)
    steps["edit"] = commit(root, "Encoded PowerShell: match -enc too", "2026-10-02T10:00:00Z")
    write(root, "rules/windows/encoded.yml", ENCODED_RETITLED)
    write(root, "rules/windows/psexec.yml", PSEXEC)
    steps["retitle"] = commit(root, "Retitle <b>encoded</b> rule, add PsExec", "2026-10-20T10:00:00Z")
    (root / "rules/windows/powershell").mkdir()
    git(root, "mv", "rules/windows/encoded.yml", "rules/windows/powershell/encoded_command.yml")
    steps["move"] = commit(root, "Move PowerShell rules into their folder", "2026-11-05T10:00:00Z")
    git(root, "rm", "-q", "rules/linux/kernel_module.yml")
    steps["delete"] = commit(root, "Drop the kernel module rule", "2026-11-06T10:00:00Z")
    return steps


def build(root: Path, **history: object) -> BuildResult:
    settings = load_config_file(root / "atc.yml")
    settings = replace(
        settings, docs_dir=root.parent / "out" / "docs", site_dir=root.parent / "out" / "site", history=replace(settings.history, **history)
    )
    return run_build(settings, quiet=True)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], BuildResult]:
    base = tmp_path_factory.mktemp("history")
    steps = make_repo(base / "kb", base / "cache")
    return base / "kb", steps, build(base / "kb")


def page(result: BuildResult, slug: str) -> str:
    return result.pages[f"Detection_Rules/{slug}.md"]


def history_section(text: str) -> str:
    return text.split("\n## History\n", 1)[1]


def test_history_follows_the_move_newest_first(scratch):
    root, steps, result = scratch
    history = history_section(page(result, "encoded_command"))
    dates = re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", history, re.M)
    assert dates == ["2026-11-05", "2026-10-20", "2026-10-02", "2026-09-10"]
    assert "4 commits touched this rule, following moves, newest first." in history
    assert "(moved from <code>rules/windows/encoded.yml</code> to <code>rules/windows/powershell/encoded\\_command.yml</code>)" in history
    assert "(created as <code>rules/windows/encoded.yml</code>)" in history
    # the short hash links to the commit, derived from repo_url
    assert f"[{steps['edit'][:10]}](https://github.com/org/rules/commit/{steps['edit']})" in history
    # the commit subject is escaped, not HTML
    assert "<b>" not in history and "&lt;b&gt;encoded&lt;/b&gt;" in history
    # a rule nobody touched after creating it has one entry
    assert re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", history_section(page(result, "cleared")), re.M) == ["2026-09-10"]


def test_history_metadata_changes(scratch):
    _, _, result = scratch
    history = history_section(page(result, "encoded_command"))
    entries = re.split(r"^\*\*\d{4}-\d\d-\d\d\*\* ", history, flags=re.M)[1:]
    moved, retitled, edited, created = entries
    assert "No field changed (only the file moved)." in moved
    assert "| title | Encoded PowerShell | PowerShell Encoded Command |" in retitled
    assert "| level | high | critical |" in retitled
    assert "| description |" not in retitled
    assert "| description | PowerShell with an encoded command. | PowerShell started with a Base64 encoded command. |" in edited
    assert "| linked ATT&amp;CK techniques | T1059.001 | T1059.001, T1140 |" in edited
    assert "| Field |" not in created


def test_history_query_diffs_collapsed(scratch):
    _, _, result = scratch
    entries = re.split(r"^\*\*\d{4}-\d\d-\d\d\*\* ", history_section(page(result, "encoded_command")), flags=re.M)[1:]
    moved, retitled, edited, _ = entries
    assert "No query changed." in moved and "No query changed." in retitled  # a new title does not change a query
    assert '<details class="atc-history__queries" markdown="1">' in edited
    assert "<summary>Queries changed: splunk, esql</summary>" in edited
    splunk = edited.split("splunk:\n\n", 1)[1].split("```\n", 2)[1]
    assert "--- a/rules/windows/encoded.yml" in splunk and "+++ b/rules/windows/encoded.yml" in splunk
    removed = [line for line in splunk.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in splunk.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any("EncodedCommand" in line for line in removed) and any("-enc" in line and "EncodedCommand" not in line for line in added)


def test_old_revisions_converted_with_todays_targets_through_the_cache(scratch, tmp_path):
    root, _, result = scratch
    again = build(root)
    assert again.convert_stats.converted == 0  # the working tree's rules: all cached
    assert again.history.convert_stats.converted == 0 and again.history.convert_stats.cached > 0  # the old revisions too
    assert history_section(page(again, "encoded_command")) == history_section(page(result, "encoded_command"))
    # a target added today diffs the old revisions in that language as well
    settings = load_config_file(root / "atc.yml")
    grep = run_build(replace(settings, docs_dir=tmp_path / "docs", targets=("splunk", "esql", "grep")), quiet=True)
    assert "<summary>Queries changed: splunk, esql, grep</summary>" in history_section(page(grep, "encoded_command"))
    assert grep.history.convert_stats.converted > 0


def test_revisions_setting_bounds_converted_changes(scratch):
    root, _, _ = scratch
    result = build(root, revisions=1)
    entries = re.split(r"^\*\*\d{4}-\d\d-\d\d\*\* ", history_section(page(result, "encoded_command")), flags=re.M)[1:]
    assert "No query changed." in entries[0]
    assert "<details" not in entries[2] and "No query changed." not in entries[2]  # older than history.revisions: not converted
    assert "| description |" in entries[2]  # metadata still compared


def test_depth_setting_reads_fewer_commits(scratch):
    root, _, _ = scratch
    result = build(root, depth=2)
    history = history_section(page(result, "encoded_command"))
    assert re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", history, re.M) == ["2026-11-05"]
    assert "older ones are not in this clone or beyond `history.depth`" in history
    changes = result.pages["changes.md"]
    assert re.findall(r"^## (\S+) ", changes, re.M) == []  # November began before the two commits read
    assert "2026-11 is left out: it reaches beyond the 2 commits read \\(history.depth\\)" in changes


def test_rules_json_dates_and_revisions(scratch):
    _, _, result = scratch
    entries = {entry["slug"]: entry for entry in json.loads(result.pages["rules.json"])}
    assert entries["encoded_command"]["first_commit"] == "2026-09-10T10:00:00Z"
    assert entries["encoded_command"]["last_commit"] == "2026-11-05T10:00:00Z"
    assert entries["encoded_command"]["revisions"] == 4
    assert (entries["psexec"]["first_commit"], entries["psexec"]["revisions"]) == ("2026-10-20T10:00:00Z", 1)
    index = result.pages["Detection_Rules/index.md"]
    assert "| Last changed |" in index and "| 2026-11-05 |" in index


def test_changes_page_per_month(scratch):
    _, _, result = scratch
    text = result.pages["changes.md"]
    assert "per month (the repository has no tags)" in text
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^<a id=|^## |\Z)", text, re.S | re.M))
    assert list(sections) == ["2026-11", "2026-10", "2026-09"]
    november, october, september = sections["2026-11"], sections["2026-10"], sections["2026-09"]
    assert "### Removed (1)" in november and "Kernel Module Loaded" in november
    assert (
        "| [PowerShell Encoded Command](Detection_Rules/encoded_command.md) | <code>rules/windows/encoded.yml</code> | <code>rules/windows/powershell/encoded\\_command.yml</code> |"
        in november
    )
    assert "- no longer covered: T1547.006" in november
    assert "### Added (1)" in october and "PsExec Service" in october
    assert (
        "| [PowerShell Encoded Command](Detection_Rules/encoded_command.md) | <code>rules/windows/encoded.yml</code> | title, description, tags, detection, level, linked ATT&amp;CK techniques, linked triggers |"
        in october
    )
    assert "- newly covered: T1140" in october and "- newly covered: T1021.002" in october
    assert "### Added (4)" in september and "an empty knowledge base" in september
    assert (
        "- newly needed: [DN\\_0008\\_1102\\_windows\\_security\\_audit\\_log\\_cleared](Data_Needed/DN_0008_1102_windows_security_audit_log_cleared.md)"
        in september
    )


def test_changes_page_per_tag(tmp_path):
    steps = make_repo(tmp_path / "kb", tmp_path / "cache")
    git(tmp_path / "kb", "tag", "v1.0", steps["edit"])
    git(tmp_path / "kb", "tag", "-a", "-m", "second release", "v1.1", steps["move"])
    result = build(tmp_path / "kb")
    text = result.pages["changes.md"]
    assert "per tag" in text
    headings = [
        (label, anchor) for anchor, label in re.findall(r'^<a id="(\S+)"></a>\n\n## (.+?)$', text, re.M)
    ]  # plain Markdown: an anchor before the heading
    assert headings == [("Since v1.1", "unreleased"), ("v1.1", "v1-1"), ("v1.0", "v1-0")]
    since = text.split("## Since v1.1", 1)[1].split("\n## ", 1)[0]
    assert "### Removed (1)" in since and "### Added" not in since and "### Changed" not in since
    v11 = text.split("## v1.1", 1)[1].split("\n## ", 1)[0]
    assert "### Added (1)" in v11 and "### Moved or renamed (1)" in v11 and "### Changed (1)" in v11


def test_atom_feed(scratch):
    _, _, result = scratch
    feed = ET.fromstring(result.pages["changes.xml"])
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}title") for e in entries] == ["Changes: 2026-11", "Changes: 2026-10", "Changes: 2026-09"]
    assert [e.findtext(f"{atom}id") for e in entries] == ["urn:atc:changes:2026-11", "urn:atc:changes:2026-10", "urn:atc:changes:2026-09"]
    assert feed.findtext(f"{atom}updated") == entries[0].findtext(f"{atom}updated") == "2026-11-06T10:00:00Z"
    content = entries[0].findtext(f"{atom}content")
    assert (
        content.startswith("0 added, 0 changed, 1 moved, 1 removed;") and "Kernel Module Loaded (rules/linux/kernel_module.yml)" in content
    )
    assert "[Atom feed](changes.xml)" in result.pages["changes.md"]


def test_same_repository_same_pages(scratch):
    root, _, result = scratch
    again = build(root)
    for name in ("changes.md", "changes.xml", "rules.json", "Detection_Rules/index.md", "Detection_Rules/encoded_command.md"):
        assert again.pages[name] == result.pages[name]


def test_shallow_clone_degrades_and_says_so(scratch, tmp_path):
    root, steps, _ = scratch
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{root}", str(clone)], check=True, capture_output=True)
    result = build(clone)
    history = history_section(page(result, "encoded_command"))
    dates = re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", history, re.M)
    assert dates == ["2026-11-05"]  # the commit before it is beyond the clone
    assert "(the oldest commit of this shallow clone)" in history and "created as" not in history
    assert "older ones are not in this clone" in history
    changes = result.pages["changes.md"]
    assert "Note: this is a shallow clone" in changes
    assert "### Added (4)" not in changes  # the clone's first commit is not mistaken for every rule being added
    assert re.findall(r"^## (\S+) ", changes, re.M) == []  # November starts before the clone's oldest commit


def test_not_a_git_repository_skips_history(tmp_path, monkeypatch):
    root = tmp_path / "plain"
    for folder in ("data_needed", "logging_policies", "triggers"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    write(root, "rules/encoded.yml", ENCODED)
    write(root, "atc.yml", f"rules: rules\ntargets: [splunk]\njobs: 1\ncache_dir: {tmp_path / 'cache'}\nbuild_site: false\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # git must not find a repository above the folder
    result = build(root)
    assert "## History" not in page(result, "encoded")
    assert not [p for p in result.problems if p.kind == "history"]
    assert "changes.xml" not in result.pages and "the knowledge base is not in a git repository" in result.pages["changes.md"]
    assert json.loads(result.pages["rules.json"])[0]["revisions"] is None


def test_history_off(scratch):
    root, _, _ = scratch
    result = build(root, enabled=False)
    assert "## History" not in page(result, "encoded_command") and "changes.xml" not in result.pages


def test_history_settings_from_atc_yml(tmp_path):
    config = tmp_path / "atc.yml"
    config.write_text("history:\n  depth: 50\n  revisions: 2\n  commit_url: https://git.example/c/{sha}\n", encoding="utf-8")
    assert load_config_file(config).history == HistorySettings(depth=50, revisions=2, commit_url="https://git.example/c/{sha}")
    assert load_config_file(config).history.periods == 12 and load_config_file(config).history.enabled
    for bad in ("history: 3\n", "history:\n  depth: 0\n", "history:\n  deep: 3\n", "history:\n  commit_url: https://x/\n"):
        config.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match="history"):
            load_config_file(config)


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3)) \u202e"


def test_hostile_commit_author_tag_and_title_in_the_site(tmp_path):
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    git(root, "config", "user.name", HOSTILE)
    write(root, "rules/windows/cleared.yml", CLEARED.replace("title: Security Log Cleared", f"title: '{HOSTILE}'"))
    commit(root, f'Retitle {HOSTILE} {{: onclick="alert(5)" }}', "2026-11-20T10:00:00Z")  # attr_list syntax too
    git(root, "tag", "<svg/onload=alert(4)>")
    settings = load_config_file(root / "atc.yml")
    out = tmp_path / "out"
    result = run_build(replace(settings, docs_dir=out / "docs", site_dir=out / "site", build_site=True, strict=False), quiet=True)
    from tests.html_safety import injected_markup, visible_text

    for name in ("Detection_Rules/cleared/index.html", "changes/index.html", "Detection_Rules/index.html"):
        html = (out / "site" / name).read_text(encoding="utf-8")
        assert injected_markup(html) == [], name
    rule_html = (out / "site/Detection_Rules/cleared/index.html").read_text(encoding="utf-8")
    assert "Retitle <script>alert(1)</script>" in visible_text(rule_html)  # shown as text
    assert '<details class="atc-history__queries">' not in rule_html  # a new title changes no query
    encoded_html = (out / "site/Detection_Rules/encoded_command/index.html").read_text(encoding="utf-8")
    details = encoded_html.split('<details class="atc-history__queries">', 1)[1].split("</details>", 1)[0]
    assert '<code class="language-diff">' in details or 'class="language-diff"' in details
    feed = ET.fromstring((out / "site/changes.xml").read_text(encoding="utf-8"))
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [entry.findtext(f"{atom}title") for entry in feed.findall(f"{atom}entry")]
    assert titles[0] == "Changes: <svg/onload=alert(4)>"
    assert "<U+202E>" in feed.findall(f"{atom}entry")[0].findtext(f"{atom}content")
    assert result.pages["changes.md"].count("## ") >= 2


def test_uncommitted_edits_and_new_rules_are_named(tmp_path):
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    write(root, "rules/windows/cleared.yml", CLEARED.replace("level: high", "level: low"))
    write(
        root,
        "rules/windows/new_rule.yml",
        CERTUTIL.replace("44444444-0000", "66666666-0000").replace("title: Certutil Download", "title: New Rule"),
    )
    result = build(root)
    assert "The working tree holds changes to this rule that are not committed." in page(result, "cleared")
    assert "The working tree holds changes" not in page(result, "certutil")
    assert "This rule is not committed yet." in page(result, "new_rule")
    assert next(e for e in json.loads(result.pages["rules.json"]) if e["slug"] == "new_rule")["revisions"] is None


def test_build_help_lists_the_history_settings(capsys):
    from dataclasses import fields

    from atc.commands import main

    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = capsys.readouterr().out
    assert "--no-history" in text
    for setting in fields(HistorySettings):
        assert f"    {setting.name}:" in text


def test_moves_are_followed_when_two_files_swap_names():
    from atc.history.gitlog import Commit, FileChange
    from atc.history.rules import touches

    def at(sha: str) -> Commit:
        return Commit(sha, (), 0, "a", sha)

    log = [  # one commit swaps the names: a.yml -> b.yml and b.yml -> a.yml
        (at("swap"), [FileChange("R", "a.yml", "b.yml", "1", "1"), FileChange("R", "b.yml", "a.yml", "2", "2")]),
        (at("edit"), [FileChange("M", "a.yml", "a.yml", "0", "1"), FileChange("M", "b.yml", "b.yml", "9", "2")]),
        (at("make"), [FileChange("A", None, "a.yml", None, "0"), FileChange("A", None, "b.yml", None, "9")]),
    ]
    found = touches(log, {"a.yml": "now-a", "b.yml": "now-b"})
    assert [(c.sha, ch.path) for c, ch in found["now-b"]] == [("swap", "b.yml"), ("edit", "a.yml"), ("make", "a.yml")]
    assert [(c.sha, ch.path) for c, ch in found["now-a"]] == [("swap", "a.yml"), ("edit", "b.yml"), ("make", "b.yml")]


def test_commit_links():
    from atc.history.stage import commit_url
    from atc.settings import default_settings

    def url(repo_url: str | None, **history: object) -> str | None:
        return commit_url(replace(default_settings(), repo_url=repo_url, history=replace(HistorySettings(), **history)))

    assert url("https://github.com/org/rules/blob/main") == "https://github.com/org/rules/commit/{sha}"
    assert url("https://gitlab.example/group/sub/rules/-/blob/main/kb") == "https://gitlab.example/group/sub/rules/-/commit/{sha}"
    assert url("https://git.example/rules/src/main") is None and url(None) is None
    assert url(None, commit_url="https://git.example/c/{sha}") == "https://git.example/c/{sha}"


def test_periods_setting_bounds_the_changes_page(scratch):
    root, _, _ = scratch
    text = build(root, periods=1).pages["changes.md"]
    assert re.findall(r"^## (\S+)$", text, re.M) == ["2026-11"]


def test_a_file_of_several_rules_gives_each_its_own_history(tmp_path):
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    second = (
        CERTUTIL.replace("44444444-0000", "77777777-0000")
        .replace("title: Certutil Download", "title: Certutil Encode")
        .replace("urlcache", "-encode")
    )
    write(root, "rules/windows/pair.yml", CLEARED + "---\n" + second)
    commit(root, "Two rules in one file", "2026-11-10T10:00:00Z")
    write(root, "rules/windows/pair.yml", CLEARED + "---\n" + second.replace("level: high", "level: low"))
    commit(root, "Lower the second rule", "2026-11-12T10:00:00Z")
    result = build(root)
    pages = {rule.title: page(result, rule.slug) for rule in result.kb.rules if rule.path.name == "pair.yml"}
    assert set(pages) == {"Security Log Cleared", "Certutil Encode"}
    first, other = history_section(pages["Security Log Cleared"]), history_section(pages["Certutil Encode"])
    assert (
        re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", first, re.M)
        == re.findall(r"^\*\*(\d{4}-\d\d-\d\d)\*\*", other, re.M)
        == ["2026-11-12", "2026-11-10"]
    )
    assert "| level | high | low |" in other and "| level |" not in first
    assert "No field changed in this rule (layout, comments or another rule of the file)." in first


@pytest.mark.parametrize("through", ["linked rules folder", "linked repository path"])
def test_history_of_rules_reached_through_a_symbolic_link(tmp_path, through):
    """git knows a linked rule folder by its target, and a repository reached through a linked path by its real one."""
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    if through == "linked rules folder":
        git(root, "mv", "rules", "sigma")
        (root / "rules").symlink_to("sigma")
        commit(root, "Keep the rules in sigma/, linked as rules", "2026-11-08T10:00:00Z")
    else:
        (tmp_path / "link").symlink_to(root)
        root = tmp_path / "link"
    write(root, "rules/windows/certutil.yml", CERTUTIL.replace("level: high", "level: low"))
    commit(root, "Lower certutil", "2026-11-09T10:00:00Z")
    result = build(root)
    certutil = next(rule for rule in result.kb.rules if rule.path.name == "certutil.yml")
    section = history_section(page(result, certutil.slug))
    assert "not committed yet" not in section and "Lower certutil" in section and "| level | high | low |" in section


def test_a_sha256_repository_knows_its_committed_rules(tmp_path):
    """git's blob ids are SHA-256 there: every rule read as edited since its last commit, and converted again as an old revision."""
    root = tmp_path / "kb"
    root.mkdir()
    if subprocess.run(["git", "init", "-q", "--object-format=sha256"], cwd=root, capture_output=True).returncode != 0:
        pytest.skip("this git cannot make SHA-256 repositories")
    git(root, "config", "user.name", "Ana Analyst")
    git(root, "config", "user.email", "ana@example.invalid")
    write(root, "atc.yml", f"rules: rules\ntargets: [splunk]\njobs: 1\ncache_dir: {tmp_path / 'cache'}\nbuild_site: false\n")
    write(root, "rules/certutil.yml", CERTUTIL)
    commit(root, "Add certutil", "2026-09-10T10:00:00Z")
    write(root, "rules/certutil.yml", CERTUTIL.replace("level: high", "level: low"))
    commit(root, "Lower certutil", "2026-10-10T10:00:00Z")
    result = build(root)
    section = history_section(page(result, result.kb.rules[0].slug))
    assert "not committed" not in section and "| level | high | low |" in section and "created as" in section
    assert result.history.convert_stats.converted == 1  # the old revision only: the working tree's rule is today's


def test_rules_in_a_submodule_get_a_warning_not_a_wrong_history(tmp_path):
    """They said "not committed yet": the outer repository's history holds only the submodule's commit id."""
    root = tmp_path / "kb"
    root.mkdir()
    git(root, "init", "-q")
    inner = root / "vendor"
    inner.mkdir()
    git(inner, "init", "-q")
    for repo in (root, inner):
        git(repo, "config", "user.name", "Ana Analyst")
        git(repo, "config", "user.email", "ana@example.invalid")
    write(inner, "rules/certutil.yml", CERTUTIL)
    commit(inner, "Add certutil", "2026-09-10T10:00:00Z")
    write(root, "rules/cleared.yml", CLEARED)
    write(
        root, "atc.yml", f"rules: [rules, vendor/rules]\ntargets: [splunk]\njobs: 1\ncache_dir: {tmp_path / 'cache'}\nbuild_site: false\n"
    )
    commit(root, "Add cleared and the vendor's rules as a submodule", "2026-09-11T10:00:00Z")
    result = build(root)
    pages = {rule.path.name: page(result, rule.slug) for rule in result.kb.rules}
    assert "## History" not in pages["certutil.yml"] and "created as" in history_section(pages["cleared.yml"])
    (warning,) = [problem for problem in result.problems if problem.kind == "history"]
    assert warning.path == str(inner) and "a git repository of its own (a submodule or a nested clone)" in warning.message


def test_rules_checked_out_with_crlf_line_endings_are_not_taken_for_uncommitted_edits(tmp_path):
    """With `*.yml text eol=crlf` the files on disk are not the committed bytes: every rule said it held uncommitted changes."""
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    write(root, ".gitattributes", "*.yml text eol=crlf\n")
    commit(root, "Check the rules out with CRLF", "2026-11-07T10:00:00Z")
    for path in (root / "rules").rglob("*.yml"):
        path.unlink()
    git(root, "checkout", "--", "rules")
    assert b"\r\n" in (root / "rules/windows/certutil.yml").read_bytes() and git(root, "status", "--porcelain") == ""
    result = build(root)
    assert all("not committed" not in history_section(page(result, rule.slug)) for rule in result.kb.rules)


def test_a_repository_without_git_to_read_it_leaves_the_history_out_with_a_warning(tmp_path, monkeypatch):
    """Without git on PATH the history was left out silently, as if the folder were not in a repository."""
    root = tmp_path / "kb"
    make_repo(root, tmp_path / "cache")
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    result = build(root)
    assert result.history is None
    (warning,) = [problem for problem in result.problems if problem.kind == "history"]
    assert warning.message == "the rule history is left out: cannot run git: No such file or directory"
    outside = tmp_path / "plain"
    shutil.copytree(root / "rules", outside / "rules")
    settings = replace(load_config_file(root / "atc.yml"), rules=(outside / "rules",), base_dir=outside, docs_dir=tmp_path / "docs2")
    assert not [problem for problem in run_build(settings, quiet=True).problems if problem.kind == "history"]  # not in git: no message
