"""Hostile input, round 2: output folders that are not atc's, unwritable output, corrupted caches, bounded work."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from atc.common import bounded_regex
from atc.engine import verify
from atc.load.rules import load_file
from atc.model import Problem
from atc.settings import Settings, default_settings
from atc.verify import runners as verify_module
from atc.verify.runners import VERIFIABLE
from tests.hostile_kb import RULE_HEAD, atc

RULE_ID = "6f1d0000-0000-4000-8000-0000000000aa"


def _verifying(root: Path, rules: Path) -> Settings:
    """The settings `atc verify` would use on a scratch folder of rules."""
    return replace(default_settings(root), rules=(rules,), cache_dir=root / "cache")


def _rule(folder: Path, name: str, title: str, detection: str, rule_id: str = RULE_ID) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"title: {title}\nid: {rule_id}\nstatus: test\n{RULE_HEAD}detection:\n{detection}level: low\n", encoding="utf-8")
    return path


def _small_kb(root: Path) -> list[str]:
    """One plain rule and empty other folders; the options that build it without a site."""
    _rule(root / "rules", "plain.yml", "Plain", "    selection:\n        CommandLine|contains: x\n    condition: selection\n")
    (root / "empty").mkdir()
    return [
        "--rules",
        "rules",
        "--data-needed",
        "empty",
        "--logging-policies",
        "empty",
        "--triggers",
        "empty",
        "--docs-dir",
        str(root / "docs"),
        "--site-dir",
        str(root / "site"),
        "--cache-dir",
        str(root / ".atc-cache"),
        "--targets",
        "splunk,grep",
        "--jobs",
        "1",
    ]


def test_a_site_folder_that_is_not_atcs_is_refused_and_left_whole(tmp_path: Path) -> None:
    options = _small_kb(tmp_path)
    precious = tmp_path / "precious"
    (precious / ".git").mkdir(parents=True)
    (precious / "thesis.txt").write_text("years of work\n", encoding="utf-8")
    before = sorted(p.relative_to(precious).as_posix() for p in precious.rglob("*"))
    result = atc("build", *options, "--site-dir", str(precious), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"atc: {precious}: the site folder is not empty and was not built by atc (no .atc-site in it)" in result.stderr
    assert sorted(p.relative_to(precious).as_posix() for p in precious.rglob("*")) == before
    assert not (tmp_path / "docs").exists()  # refused before any work
    repo_docs = tmp_path / "repo"
    (repo_docs / ".git").mkdir(parents=True)
    result = atc("build", *options, "--no-site", "--docs-dir", str(repo_docs), cwd=tmp_path)  # the later option wins
    assert result.returncode == 1 and "holds a git repository (.git) and was not written by atc" in result.stderr
    assert [p.name for p in repo_docs.iterdir()] == [".git"]


def test_atc_replaces_its_own_site_and_an_empty_folder(tmp_path: Path) -> None:
    options = _small_kb(tmp_path)
    (tmp_path / "site").mkdir()
    assert atc("build", *options, cwd=tmp_path).returncode == 0
    assert (tmp_path / "site" / ".atc-site").is_file() and (tmp_path / "site" / "index.html").is_file()
    (tmp_path / "site" / "stale.html").write_text("old\n", encoding="utf-8")
    assert atc("build", *options, cwd=tmp_path).returncode == 0
    assert not (tmp_path / "site" / "stale.html").exists()


@pytest.mark.parametrize("option", ["--docs-dir", "--cache-dir"])
def test_unwritable_output_is_one_clear_error(tmp_path: Path, option: str) -> None:
    options = _small_kb(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    result = atc("build", *options, "--no-site", option, str(blocker / "out"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("atc: ") and str(blocker) in last


def _corrupt(path: Path, where: str) -> None:
    data = bytearray(path.read_bytes())
    if where == "header":
        data[:100] = os.urandom(100)
    else:
        start = len(data) // 2
        data[start : start + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "middle"])
def test_a_corrupted_cache_is_discarded_with_a_warning_and_rebuilt(tmp_path: Path, where: str) -> None:
    options = _small_kb(tmp_path)
    for number in range(40):  # enough rows that a corrupted middle hits the tables
        _rule(
            tmp_path / "rules",
            f"r{number}.yml",
            f"Rule {number}",
            f"    selection:\n        CommandLine|contains: x{number}\n    condition: selection\n",
            f"6f1d0000-0000-4000-8000-{number:012d}",
        )
    assert atc("build", *options, "--no-site", cwd=tmp_path).returncode == 0
    pages = {p.relative_to(tmp_path / "docs"): p.read_bytes() for p in (tmp_path / "docs").rglob("*.md")}
    for name in ("cache.sqlite3",):
        _corrupt(tmp_path / ".atc-cache" / name, where)
    result = atc("build", *options, "--no-site", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "the cache is unreadable" in result.stderr and "discarded, it is rebuilt" in result.stderr
    assert {p.relative_to(tmp_path / "docs"): p.read_bytes() for p in (tmp_path / "docs").rglob("*.md")} == pages
    for name in ("cache.sqlite3",):
        with sqlite3.connect(tmp_path / ".atc-cache" / name) as db:
            assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    again = atc("build", *options, "--no-site", cwd=tmp_path)
    assert again.returncode == 0 and "unreadable" not in again.stderr


def test_windash_over_many_flags_is_refused_before_pysigma_expands_it(tmp_path: Path) -> None:
    """Timing: 14 flags would make 5^14 values (hours, terabytes); refused in well under a second."""
    flags = " ".join(f"-{chr(97 + n)}" for n in range(14))
    path = _rule(
        tmp_path, "windash.yml", "Windash", f"    selection:\n        CommandLine|windash|contains: ' {flags} '\n    condition: selection\n"
    )
    problems: list[Problem] = []
    started = time.perf_counter()
    assert load_file(path, problems) == []
    assert time.perf_counter() - started < 5
    assert len(problems) == 1 and f"modifiers expand to {5**14:,} values, more than the 10,000 allowed" in problems[0].message
    fine = _rule(
        tmp_path,
        "fine.yml",
        "Fine windash",
        "    selection:\n        CommandLine|windash|contains: ' -a -b -c '\n    condition: selection\n",
    )
    assert load_file(fine, problems) and len(problems) == 1


def _events(folder: Path, side: str, name: str, event: object) -> Path:
    path = folder / side / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def test_a_catastrophic_regex_in_verify_stops_at_the_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing: Python's re would backtrack for hours on this event; every query stops near the limit."""
    monkeypatch.setattr(bounded_regex, "TIME_LIMIT", 1.0)
    _rule(tmp_path / "rules", "redos.yml", "ReDoS", "    selection:\n        CommandLine|re: '^(a|aa)+$'\n    condition: selection\n")
    _events(tmp_path / "events" / RULE_ID, "positive", "evil.json", {"CommandLine": "a" * 60 + "!"})
    started = time.perf_counter()
    report = verify(_verifying(tmp_path, tmp_path / "rules"), VERIFIABLE, tmp_path / "events")
    elapsed = time.perf_counter() - started
    assert elapsed < 30, elapsed  # conversion included; the regex alone would never finish
    outcomes = {o.target: o for o in report.outcomes}
    assert outcomes["sqlite"].status == "failed" and "longer than the 1 s limit" in outcomes["sqlite"].detail
    assert outcomes["grep"].status == "failed"  # PCRE's backtracking limit or the time limit, never a hang


def _stops_near_the_limit(run: Callable[[], object]) -> None:
    """run() under a 1 s query limit ends within 5 s: stopped by the limit, or (the `regex` engine checks its clock
    only between backtracking steps) finished just past it, after which the query has no time left."""
    started = time.perf_counter()
    with bounded_regex.query_time():
        try:
            run()
        except bounded_regex.QueryTimeout:
            pass
        else:  # judged by the limit's own clock: the engine's may end its search a hair before ours reads 1 s
            if not bounded_regex.expired():
                raise AssertionError(f"a catastrophic pattern finished in {time.perf_counter() - started:.2f} s, before the limit")
            with pytest.raises(bounded_regex.QueryTimeout):
                bounded_regex.bounded_search("a", "a")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("operator", ["-match", "-like"])
def test_the_powershell_simulation_and_sqlite_like_share_the_time_limit(operator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing: every regular expression made from rule text (PowerShell -match/-like, SQLite LIKE) stops near the limit."""
    from atc.verify.powershell import COMPARE

    monkeypatch.setattr(bounded_regex, "TIME_LIMIT", 1.0)
    # the `regex` engine's guards end the wildcard search over 3,000 characters in about 1.4 s, close enough to the
    # limit to race it; over 12,000 it takes about 20 s
    pattern, text = ("^(a|aa)+$", "a" * 60 + "!") if operator == "-match" else ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 12_000)
    _stops_near_the_limit(lambda: COMPARE[operator](text, pattern))
    _stops_near_the_limit(lambda: verify_module._like("%a%a%a%a%a%a%a%a%a%a%a%b", "a" * 12_000))
    with bounded_regex.query_time():  # one query's searches share one limit: once it is spent, the next search stops at once
        bounded_regex._deadline = time.monotonic() - 0.001  # query_time resets it on leaving
        with pytest.raises(bounded_regex.QueryTimeout):
            verify_module._like("%a", "a")


def test_bad_event_files_are_their_own_problem_and_unrunnable_queries_fail_their_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    events = tmp_path / "events"
    outside = tmp_path / "outside.json"
    outside.write_text('{"CommandLine": "secret"}', encoding="utf-8")
    cases = {
        "nul": (
            '    selection:\n        CommandLine|re: "a\\0b"\n    condition: selection\n',
            lambda d: _events(d, "positive", "e.json", {"CommandLine": "a\u0000b"}),
        ),
        "deep": (
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            lambda d: (d / "positive").mkdir(parents=True) or (d / "positive" / "e.json").write_text('{"a":' * 5000 + "1" + "}" * 5000),
        ),
        "link": (
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            lambda d: (d / "positive").mkdir(parents=True) or (d / "positive" / "e.json").symlink_to(outside),
        ),
        "fifo": (
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            lambda d: (d / "negative").mkdir(parents=True) or os.mkfifo(d / "negative" / "e.json"),
        ),
        "shape": (
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            lambda d: _events(d, "positive", "e.json", {"Event": {"System": {"Provider": {"#attributes": "not a mapping"}}}}),
        ),
        "good": (
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            lambda d: _events(d, "positive", "e.json", {"CommandLine": "xx"}),
        ),
    }
    for number, (name, (detection, make_events)) in enumerate(cases.items()):
        rule_id = f"6f1d0000-0000-4000-8000-{number:012d}"
        _rule(rules, f"{name}.yml", name, detection, rule_id)
        make_events(events / rule_id)
    report = verify(_verifying(tmp_path, rules), VERIFIABLE, events)
    by_rule: dict[str, dict[str, verify_module.Outcome]] = {}
    for outcome in report.outcomes:
        by_rule.setdefault(Path(outcome.rule).stem, {})[outcome.target] = outcome
    assert {t: o.status for t, o in by_rule["good"].items()} == {"grep": "passed", "sqlite": "passed"}
    # grep carries the NUL escaped (PCRE \\x{0}) and matches; SQLite cannot take a NUL in a query and says so
    assert by_rule["nul"]["grep"].status == "passed" and by_rule["nul"]["sqlite"].status == "failed" and by_rule["nul"]["sqlite"].detail
    bad = {Path(path).parent.parent.name: why for path, why in report.bad_events}
    number = {name: f"6f1d0000-0000-4000-8000-{n:012d}" for n, name in enumerate(cases)}
    assert set(bad) == {number[name] for name in ("deep", "link", "fifo", "shape")}
    assert bad[number["deep"]] == "the event nests deeper than 64 levels or holds more than 200,000 values; refused"
    assert bad[number["link"]].startswith("symbolic link to a file outside the events folder")
    assert bad[number["fifo"]].startswith("not a regular file")
    assert bad[number["shape"]].startswith("not an event atc can read")
    assert all(o.status == "no-events" for name in ("deep", "link", "fifo", "shape") for o in by_rule[name].values())
    assert "BAD EVENT" in report.table()


def test_a_rule_page_that_cannot_be_rendered_is_a_problem_naming_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from atc.engine import run_build
    from atc.render import rule_pages
    from atc.settings import default_settings

    for name in ("fine", "odd"):
        _rule(
            tmp_path / "rules",
            f"{name}.yml",
            name.title(),
            "    selection:\n        CommandLine|contains: x\n    condition: selection\n",
            f"6f1d0000-0000-4000-8000-00000000000{len(name)}",
        )
    for folder in ("data_needed", "logging_policies", "triggers"):
        (tmp_path / folder).mkdir()
    context = rule_pages.rule_context

    def failing(ctx, rule, summary, related):  # type: ignore[no-untyped-def]
        if rule.title == "Odd":
            raise TypeError("'<' not supported between instances of 'str' and 'int'")
        return context(ctx, rule, summary, related)

    monkeypatch.setattr(rule_pages, "rule_context", failing)
    built = run_build(replace(default_settings(tmp_path), build_site=False, targets=("grep",), jobs=1), quiet=True)
    assert [(Path(p.path).name, p.kind) for p in built.problems] == [("odd.yml", "render")]
    assert "cannot render the rule's page (TypeError: '<' not supported" in built.problems[0].message
    assert "Detection_Rules/fine.md" in built.pages and "Detection_Rules/odd.md" not in built.pages


def test_output_folders_keep_their_permissions(tmp_path: Path) -> None:
    options = _small_kb(tmp_path)
    (tmp_path / "site").mkdir(mode=0o750)
    (tmp_path / "site").chmod(0o750)
    assert atc("build", *options, cwd=tmp_path).returncode == 0
    assert (tmp_path / "site").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "docs").stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_special_files_in_every_input_folder_are_skipped_with_a_problem(tmp_path: Path) -> None:
    from atc.load.data_needed import load_data_needed
    from atc.load.logging_policies import load_logging_policies
    from atc.load.rules import load_rules
    from atc.load.triggers import load_triggers

    paths = [
        tmp_path / "rules" / "r.yml",
        tmp_path / "dn" / "DN_1.yml",
        tmp_path / "lp" / "LP_1.yml",
        tmp_path / "art" / "T1059" / "T1059.yaml",
    ]
    for path in paths:
        path.parent.mkdir(parents=True)
        os.mkfifo(path)  # reading one would block the build for ever
    problems: list[Problem] = []
    assert load_rules([tmp_path / "rules"], problems) == []
    assert load_data_needed([tmp_path / "dn"], problems) == {} and load_logging_policies([tmp_path / "lp"], problems) == {}
    assert load_triggers([tmp_path / "art"], problems) == {}
    assert [(Path(p.path), p.message) for p in problems] == [
        (path, "not a regular file (a FIFO, socket or device); skipped") for path in paths
    ]


def test_a_hand_written_file_at_a_generated_pages_path_is_kept_and_reported(tmp_path: Path) -> None:
    options = _small_kb(tmp_path)
    assert atc("build", *options, "--no-site", cwd=tmp_path).returncode == 0
    page = tmp_path / "docs" / "Detection_Rules" / "later.md"
    page.write_text("# My own notes\n", encoding="utf-8")  # hand-written; then a rule gets the same page name
    _rule(
        tmp_path / "rules",
        "later.yml",
        "Later",
        "    selection:\n        CommandLine|contains: y\n    condition: selection\n",
        "6f1d0000-0000-4000-8000-0000000000bb",
    )
    result = atc("build", *options, "--no-site", cwd=tmp_path)
    assert result.returncode == 0
    assert f"{page}: error: [docs] a hand-written file has the name of a generated page; kept, the page is not written" in result.stderr
    assert page.read_text(encoding="utf-8") == "# My own notes\n"
    assert "Detection_Rules/later.md" not in json.loads((tmp_path / "docs" / ".atc-generated.json").read_text(encoding="utf-8"))
    other = tmp_path / "docs" / "index.md"
    other.write_text("edited\n", encoding="utf-8")  # a generated page edited by hand is atc's: made again
    assert atc("build", *options, "--no-site", cwd=tmp_path).returncode == 0 and other.read_text(encoding="utf-8") != "edited\n"


@pytest.mark.parametrize(
    "option,folder", [("--docs-dir", "."), ("--docs-dir", "rules"), ("--site-dir", "..")]
)  # never "/": a regression would walk the machine
def test_an_output_folder_holding_the_inputs_or_the_working_folder_is_refused(tmp_path: Path, option: str, folder: str) -> None:
    options = _small_kb(tmp_path)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    result = atc("build", *options, option, folder, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "which the build reads (or works in); atc replaces its output folders" in result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("docs,site", [("out", "out"), ("out/docs", "out"), ("out", "out/site")])
def test_docs_and_site_folders_that_overlap_are_refused(tmp_path: Path, docs: str, site: str) -> None:
    """Each output folder is swapped whole: with one inside the other (or both the same) a build lost the inner one,
    hand-written pages in docs/ included."""
    options = _small_kb(tmp_path)
    result = atc("build", *options, "--docs-dir", docs, "--site-dir", site, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the site folder and the docs folder" in result.stderr and "one holds the other" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before any work
    (tmp_path / "out" / "docs").mkdir(parents=True)
    (tmp_path / "out" / "docs" / "handbook.md").write_text("# Handbook\n", encoding="utf-8")
    result = atc("build", *options, "--docs-dir", "out/docs", "--site-dir", "out", cwd=tmp_path)
    assert result.returncode == 1 and (tmp_path / "out" / "docs" / "handbook.md").read_text(encoding="utf-8") == "# Handbook\n"
    assert atc("build", *options, "--no-site", "--docs-dir", "out", "--site-dir", "out", cwd=tmp_path).returncode == 0  # no site: no clash


def test_a_page_that_breaks_markdown_is_a_site_build_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mkdocs.commands.build

    from atc.settings import REPO_ROOT
    from atc.site.mkdocs_adapter import SiteBuildError, build_site

    def nested_too_deep(config: object) -> None:
        raise RecursionError("maximum recursion depth exceeded while calling a Python object")

    monkeypatch.setattr(mkdocs.commands.build, "build", nested_too_deep)
    (tmp_path / "docs").mkdir()
    with pytest.raises(SiteBuildError, match=r"mkdocs failed \(RecursionError\): maximum recursion depth exceeded"):
        build_site(REPO_ROOT / "mkdocs.yml", tmp_path / "docs", tmp_path / "site")


def test_a_rule_file_name_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """The parsed-rule cache stored the name as text and sqlite refused it: the build died with UnicodeEncodeError."""
    options = _small_kb(tmp_path)
    latin1 = os.fsdecode(os.fsencode(tmp_path / "rules") + b"/caf\xe9.yml")
    Path(latin1).write_bytes((tmp_path / "rules" / "plain.yml").read_bytes().replace(b"6f1d0000", b"6f1d0001"))
    result = atc("build", *options, "--no-site", "-q", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "rules/caf\\xe9.yml: error: [rule] the file name is not UTF-8" in result.stderr
    assert (tmp_path / "docs" / "Detection_Rules" / "plain.md").is_file()
