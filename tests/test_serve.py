"""`atc serve`: its address option, what it watches, and which changes it ignores."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from atc.commands import main
from atc.settings import REPO_ROOT, ConfigError, default_settings
from atc.site.serve import awaited_paths, changed_between, ignored, input_state, parse_address, watched_paths


def test_address_is_host_and_port_as_mkdocs_takes_it() -> None:
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("8000", "localhost", "host:port", ":80", "host:70000"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_address(bad)


def test_every_input_is_watched_once(tmp_path: Path) -> None:
    config = tmp_path / "atc.yml"
    config.write_text("{}\n", encoding="utf-8")
    settings = replace(default_settings(), rules=(tmp_path, tmp_path), logging_policies=(tmp_path / "missing",))
    watched = watched_paths(settings, config)
    assert watched.count(tmp_path.resolve()) == 1 and config.resolve() in watched
    assert settings.templates_dir.resolve() in watched and settings.mkdocs_config.resolve() in watched
    assert tmp_path / "missing" not in watched


def test_inputs_that_do_not_exist_yet_are_awaited_in_their_folder(tmp_path: Path) -> None:
    config = tmp_path / "atc.yml"
    config.write_text("{}\n", encoding="utf-8")
    settings = replace(
        default_settings(), rules=(tmp_path,), templates_dir=tmp_path / "templates", mkdocs_config=tmp_path / "mkdocs.yml", events=None
    )
    awaited = awaited_paths(settings, config)
    assert tmp_path / "templates" in awaited and tmp_path / "mkdocs.yml" in awaited
    assert tmp_path not in awaited and config not in awaited and tmp_path / "templates" not in watched_paths(settings, config)


def test_changes_to_outputs_staging_folders_and_swap_files_are_ignored(tmp_path: Path) -> None:
    root, docs = str(tmp_path), str(tmp_path / "docs")
    assert not ignored(str(tmp_path / "rules/a.yml"), root, [docs])
    assert ignored(str(tmp_path / "docs/Detection_Rules/a.md"), root, [docs])
    assert ignored(str(tmp_path / ".docs.atc-new-1-x/a.md"), root, [docs])
    assert ignored(str(tmp_path / "rules/.a.yml.swp"), root, [docs])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(folder: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`atc serve` started in the folder on a free port, its output in serve.log there."""
    port, log = _free_port(), folder / "serve.log"
    with log.open("w", encoding="utf-8") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "atc", "serve", "-a", f"127.0.0.1:{port}"],
            cwd=folder,
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    return server, port, log


def _wait_for(log: Path, text: str, after: int, seconds: float = 60) -> str:
    """The log from offset `after` once it holds text (a round's last line)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        written = log.read_text(encoding="utf-8", errors="replace")[after:]
        if text in written:
            return written
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the serve log:\n{log.read_text(encoding='utf-8', errors='replace')}")


def _saved(log: Path, path: Path, text: str, end: str, said: str) -> None:
    """Save text into path while serving; the round it starts says `said`, ends with `end` and shows no traceback."""
    _done(log, lambda: path.write_text(text, encoding="utf-8"), end, said)


def _done(log: Path, action: Callable[[], object], end: str, said: str) -> None:
    """Do something to the inputs while serving; the round it starts says `said`, ends with `end` and shows no traceback."""
    start = log.stat().st_size
    action()
    written = _wait_for(log, end, start)
    assert said in written and "Traceback" not in written, written


def test_serving_through_a_broken_atc_yml_a_new_template_and_a_rules_folder_moved_away_and_back(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    shutil.copy(REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml", tmp_path / "rules")
    config = tmp_path / "atc.yml"
    good = "rules: rules\ntargets: [splunk]\njobs: 1\nexports: false\nhistory: {enabled: false}\n"
    config.write_text(good, encoding="utf-8")
    server, port, log = _serve(tmp_path)
    template = tmp_path / "templates/rule.md.j2"
    page = f"http://127.0.0.1:{port}/Detection_Rules/win_security_susp_psexec_execution/"
    try:
        _wait_for(log, "serve: http://", 0)
        _saved(log, config, "rules: [rules\n", "served until the next edit", f"atc: {config}:2: not valid YAML")
        _saved(log, config, good, "reloading the browsers", "rebuilt")
        template.parent.mkdir()  # a templates folder created while serving is watched from then on
        _saved(log, template, "{% if x %}\n", "served until the next edit", f"atc: {template}:1: template syntax error")
        _saved(log, template, "# {{ rule.title }}\n\nTEAM-PAGE\n", "reloading the browsers", "rebuilt")
        assert server.poll() is None and b"TEAM-PAGE" in urllib.request.urlopen(page, timeout=10).read()
        rules = tmp_path / "rules"
        kept = tmp_path / "kept"
        _done(log, lambda: rules.rename(kept), "served until the next edit", f"atc: {rules}: rules path not found")
        _done(log, lambda: kept.rename(rules), "reloading the browsers", "rebuilt")  # watched again (its watch went with it)
        rule = rules / "win_security_susp_psexec_execution.yml"
        _saved(log, rule, rule.read_text(encoding="utf-8").replace("title: ", "title: Again "), "reloading the browsers", "rebuilt")
        assert b"Again Suspicious" in urllib.request.urlopen(page, timeout=10).read()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_address_in_use_is_one_line_before_any_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was mkdocs' traceback (Address already in use), after the whole first build."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atc.yml").write_text("rules: rules\n", encoding="utf-8")  # no rules folder: a build would stop otherwise
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "-a", f"127.0.0.1:{port}"]) == 2
    assert capsys.readouterr().err == f"atc: -a 127.0.0.1:{port}: cannot serve there: Address already in use\n"


def test_a_first_build_that_makes_no_site_is_one_line_and_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """`atc serve --strict` with a mkdocs warning (a hand-written page's broken link) ended in a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    shutil.copy(REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml", tmp_path / "rules")
    (tmp_path / "atc.yml").write_text("rules: rules\ntargets: [splunk]\nexports: false\njobs: 1\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "handbook.md").write_text("See [the runbook](missing.md).\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("nav:\n  - Handbook: handbook.md\n", encoding="utf-8")
    assert main(["serve", "--strict", "-a", f"127.0.0.1:{_free_port()}"]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "atc: " in err and "mkdocs failed: Aborted with 1 warnings in strict mode!" in err


def test_a_commit_while_serving_updates_the_rule_history(tmp_path: Path) -> None:
    """A commit touches no input file: the History section said "not committed" until the next edit."""
    (tmp_path / "rules").mkdir()
    rule = tmp_path / "rules" / "win_security_susp_psexec_execution.yml"
    shutil.copy(REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml", rule)
    (tmp_path / "atc.yml").write_text("rules: rules\ntargets: [splunk]\njobs: 1\nexports: false\n", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("docs/\nsite/\n.atc-cache/\nserve.log\n", encoding="utf-8")
    git = ["git", "-c", "user.name=Ana", "-c", "user.email=ana@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=tmp_path, check=True)
    rule.write_text(rule.read_text(encoding="utf-8").replace("level: high", "level: low"), encoding="utf-8")
    server, port, log = _serve(tmp_path)
    page = f"http://127.0.0.1:{port}/Detection_Rules/win_security_susp_psexec_execution/"
    try:
        _wait_for(log, "serve: http://", 0)
        assert b"not committed" in urllib.request.urlopen(page, timeout=10).read()
        _done(
            log,
            lambda: subprocess.run([*git, "commit", "-qam", "Lower it"], cwd=tmp_path, check=True),
            "reloading the browsers",
            "history:",
        )
        text = urllib.request.urlopen(page, timeout=10).read()
        assert b"Lower it" in text and b"not committed" not in text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_input_state_sees_files_created_changed_and_deleted_but_not_outputs_or_hidden_files(tmp_path: Path) -> None:
    rules, docs = tmp_path / "rules", tmp_path / "rules" / "docs"
    (rules / "sub").mkdir(parents=True)
    docs.mkdir()
    kept, edited, deleted = rules / "kept.yml", rules / "sub" / "edited.yml", rules / "deleted.yml"
    for path in (kept, edited, deleted):
        path.write_text("title: a\n", encoding="utf-8")
    config = tmp_path / "atc.yml"
    config.write_text("rules: rules\n", encoding="utf-8")
    outputs = [str(docs)]
    before = input_state([rules, config], outputs)
    assert set(before) == {str(kept), str(edited), str(deleted), str(config)}
    edited.write_text("title: longer\n", encoding="utf-8")
    deleted.unlink()
    (rules / "new.yml").write_text("title: n\n", encoding="utf-8")
    (docs / "page.md").write_text("x", encoding="utf-8")  # the build's output
    (rules / ".edited.yml.swp").write_text("x", encoding="utf-8")  # an editor's
    assert changed_between(before, input_state([rules, config], outputs)) == sorted([str(edited), str(deleted), str(rules / "new.yml")])


def test_an_edit_saved_during_the_first_build_is_built_once_serving(tmp_path: Path) -> None:
    """No watcher runs while the first build does: what was saved meanwhile is found when watching begins, and built."""
    (tmp_path / "rules").mkdir()
    rule = tmp_path / "rules" / "win_security_susp_psexec_execution.yml"
    shutil.copy(REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml", rule)
    (tmp_path / "atc.yml").write_text(
        "rules: rules\ntargets: [splunk]\njobs: 1\nexports: false\nhistory: {enabled: false}\n", encoding="utf-8"
    )
    server, port, log = _serve(tmp_path)
    try:
        _wait_for(log, "load:", 0)  # the first build has read the rule and goes on to convert it and build the site
        rule.write_text(rule.read_text(encoding="utf-8").replace("title: ", "title: During "), encoding="utf-8")
        _wait_for(log, "serve: http://", 0)
        written = _wait_for(log, "reloading the browsers", log.read_text(encoding="utf-8").index("serve: http://"))
        assert "Traceback" not in written
        page = f"http://127.0.0.1:{port}/Detection_Rules/win_security_susp_psexec_execution/"
        assert b"During Suspicious" in urllib.request.urlopen(page, timeout=10).read()
    finally:
        server.terminate()
        server.wait(timeout=30)
