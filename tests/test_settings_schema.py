"""The settings schema: every key is in --help, validated with a message naming file and key, and set the same by atc.yml and option."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atc.commands import build_parser, main
from atc.commands.options import settings_from_args
from atc.kinds import KINDS, Kind
from atc.settings import REPO_ROOT, ConfigError, default_settings, load_config_file
from atc.settings.schema import ENVIRONMENT, HISTORY, SETTINGS_COMMANDS, TARGET_ENTRY, schema
from atc.settings.values import (
    Bool,
    Exclusions,
    Mapping,
    Named,
    NameList,
    PathList,
    PathValue,
    Targets,
    Url,
    WholeNumber,
)

# a wrong atc.yml value per value type: a schema entry of a type missing here fails test_every_key_is_validated
WRONG: dict[type, Any] = {
    Bool: "yes please",
    WholeNumber: 0,
    Url: 5,
    PathValue: ["a", "b"],
    PathList: [1],
    NameList: "pysigma",
    Mapping: 3,
    Exclusions: ["x"],
    Named: ["corp"],
    Targets: {"splunk": 1},
}


def help_text(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_every_schema_entry_appears_in_build_help(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("build", capsys)
    for setting in schema():
        assert re.search(rf"^  {setting.key}: ", text, re.MULTILINE), setting.key
    options = text.split("atc.yml keys")[0]
    assert all(flag in options for flag in flags_on("build"))
    for key in (entry.key for entry in HISTORY):
        assert re.search(rf"^    {key}: ", text, re.MULTILINE), key
    for key in (entry.key for entry in (*ENVIRONMENT, *TARGET_ENTRY)):
        assert re.search(rf"^    {key}: ", text, re.MULTILINE), key


def flags_on(command: str) -> set[str]:
    """The schema's options on a command."""
    return {flag for setting in schema() for option in setting.options if command in option.commands for flag in option.flags}


def test_every_command_reading_settings_has_its_schema_options_and_no_other() -> None:
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    every = {flag for setting in schema() for option in setting.options for flag in option.flags}
    for command in SETTINGS_COMMANDS:
        assert every & set(commands[command]._option_string_actions) == flags_on(command), command


@pytest.mark.parametrize("setting", schema(), ids=lambda s: s.key)
def test_every_key_is_validated(tmp_path: Path, setting: Any) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(yaml.safe_dump({setting.key: WRONG[type(setting.value)]}), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config_file(config)
    assert str(error.value).startswith(f"{config}: '{setting.key}' must "), str(error.value)


@pytest.mark.parametrize("entry", HISTORY, ids=lambda s: s.key)
def test_every_history_key_is_validated(tmp_path: Path, entry: Any) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(
        yaml.safe_dump({"history": {entry.key: WRONG[type(entry.value)] if entry.key != "revisions" else -1}}), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=re.escape(f"{config}: 'history.{entry.key}' must ")):
        load_config_file(config)


@pytest.mark.parametrize("entry", ENVIRONMENT, ids=lambda s: s.key)
def test_every_environment_key_is_validated(tmp_path: Path, entry: Any) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(yaml.safe_dump({"environments": {"corp": {entry.key: 5}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{config}: 'environments.corp.{entry.key}' must ")):
        load_config_file(config)


@pytest.mark.parametrize("entry", TARGET_ENTRY, ids=lambda s: s.key)
def test_every_target_entry_key_is_validated(tmp_path: Path, entry: Any) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(yaml.safe_dump({"targets": [{"key": "ours", "backend": "splunk", entry.key: 5}]}), encoding="utf-8")
    label = "targets entry 1" if entry.key == "key" else "targets entry 1 (ours)"
    with pytest.raises(ConfigError, match=re.escape(f"{config}: {label}: '{entry.key}' must ")):
        load_config_file(config)
    if entry.required:
        without = {key: value for key, value in {"key": "ours", "backend": "splunk"}.items() if key != entry.key}
        config.write_text(yaml.safe_dump({"targets": [without]}), encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"'{entry.key}' is required")):
            load_config_file(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ofline: true\n", "unknown setting(s) ofline (did you mean offline?); known: rules, data_needed,"),
        ("history:\n  deep: 3\n", "unknown setting(s) history.deep (did you mean history.depth?); 'history' may only set enabled,"),
        ("colour: blue\n", "unknown setting(s) colour; known: rules,"),
        ("targets: [{key: a, backend: b, pipeline: c}]\n", "targets entry 1 (a): unknown key(s) pipeline (did you mean pipelines?)"),
    ],
)
def test_unknown_keys_are_named_with_the_closest_known_one(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{config}: {message}")):
        load_config_file(config)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([s.key for s in schema()]), value=VALUES)
def test_any_value_loads_or_is_refused_naming_the_file(tmp_path: Path, key: str, value: Any) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    try:
        load_config_file(config)
    except ConfigError as exc:
        assert str(exc).startswith(f"{config}: "), str(exc)
        assert key in str(exc) or key.rstrip("s") in str(exc), str(exc)


def _option_and_yaml(setting: Any, option: Any, folder: Path) -> tuple[list[str], Any]:
    """The same value as this option's arguments and as an atc.yml value."""
    if option.metavar is None:
        return [option.flags[0]], option.sets
    sample = {
        PathList: (str(folder), [str(folder)]),
        PathValue: (str(folder), str(folder)),
        WholeNumber: ("3", 3),
        Targets: ("splunk,grep", ["splunk", "grep"]),
        Url: ("https://git.example/rules", "https://git.example/rules"),
    }
    text, value = sample[type(setting.value)]
    return [option.flags[0], text], value


@pytest.mark.parametrize("command", SETTINGS_COMMANDS)
def test_an_option_and_its_atc_yml_key_give_the_same_settings(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    base = {"rules": str(folder)}
    parser = build_parser()
    positional = ["HEAD"] if command == "diff" else []
    seen = 0
    for setting in schema():
        for option in (o for o in setting.options if command in o.commands):
            args, value = _option_and_yaml(setting, option, folder)
            key, _, sub = (option.key or setting.key).partition(".")
            config = tmp_path / "atc.yml"
            config.write_text(yaml.safe_dump(base), encoding="utf-8")
            from_option = settings_from_args(parser.parse_args([command, *positional, *args]), tmp_path, check=False)
            config.write_text(yaml.safe_dump({**base, key: {sub: value} if sub else value}), encoding="utf-8")
            from_yaml = settings_from_args(parser.parse_args([command, *positional]), tmp_path, check=False)
            assert from_option == from_yaml, (command, option.flags)
            seen += 1
    assert seen >= 2


def test_a_bad_option_value_names_the_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    assert main(["build", "--rules", "rules", "--jobs", "0"]) == 2
    assert "atc: --jobs must be a whole number of at least 1" in capsys.readouterr().err
    assert main(["build", "--rules", "rules", "--repo-url", "git.example/rules"]) == 2
    assert "atc: --repo-url must be an http(s) URL" in capsys.readouterr().err


def test_a_registered_kind_gets_its_setting_option_and_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(KINDS, "playbook", Kind("playbook", "Playbook", "Playbooks", settings_key="playbooks", loader="x:y"))
    (tmp_path / "plays").mkdir()
    (tmp_path / "rules").mkdir()
    config = tmp_path / "atc.yml"
    config.write_text("playbooks: plays\n", encoding="utf-8")
    assert load_config_file(config).folders("playbooks") == (tmp_path / "plays",)
    args = build_parser().parse_args(["build", "--config", str(config), "--playbooks", str(tmp_path / "rules")])
    assert settings_from_args(args, tmp_path).folders("playbooks") == (tmp_path / "rules",)
    assert re.search(r"^  playbooks: ", help_text("build", capsys), re.MULTILINE)
    config.write_text("playbooks: [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'playbooks' must be a folder path or a list of folder paths"):
        load_config_file(config)


def test_the_readme_names_every_atc_yml_key(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("Every key of\n`atc.yml` (paths are relative to it; `~` is your home folder):\n\n```yaml\n", 1)[1].split("```", 1)[
        0
    ]
    config = tmp_path / "atc.yml"
    config.write_text(block, encoding="utf-8")
    load_config_file(config)  # a valid atc.yml
    documented = yaml.safe_load(block)
    assert sorted(documented) == sorted(setting.key for setting in schema())
    assert sorted(documented["history"]) == sorted(entry.key for entry in HISTORY)


def test_the_commands_form_settings_only_through_the_one_merge() -> None:
    readers = ("load_config_file", "default_settings", "check_paths")
    for module in sorted((REPO_ROOT / "atc" / "commands").glob("*.py")):
        if module.name != "options.py":
            text = module.read_text(encoding="utf-8")
            assert not [name for name in readers if name in text], module.name


def test_every_settings_field_is_a_schema_key_or_set_by_one() -> None:
    from dataclasses import fields

    from atc.settings import Settings

    not_keys = {"base_dir", "given", "kind_folders", "target_entries"}  # atc.yml's folder, what was given, other kinds, by targets
    assert {f.name for f in fields(Settings)} - not_keys == {setting.key for setting in schema()}


def test_the_defaults_are_the_schema_defaults_below_the_folder(tmp_path: Path) -> None:
    defaults = default_settings(tmp_path)
    assert defaults.rules == (tmp_path / "rules",) and defaults.cache_dir == tmp_path / ".atc-cache"
    assert defaults.validators == ("pysigma",) and defaults.build_site and not defaults.strict and defaults.given == frozenset()
    config = tmp_path / "atc.yml"
    config.write_text(yaml.safe_dump({s.key: s.default for s in schema() if s.default is not None}), encoding="utf-8")
    assert replace(load_config_file(config), given=frozenset()) == defaults


def test_every_wrong_key_of_atc_yml_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atc.yml").write_text("ofline: true\njobs: 0\nhistory:\n  deep: 1\nrules: rules\n", encoding="utf-8")
    assert main(["check"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 2)[2][:30] for line in lines] == [
        "unknown setting(s) ofline (did",
        "'jobs' must be a whole number ",
        "unknown setting(s) history.dee",
    ]
    assert all(line.startswith(f"atc: {tmp_path / 'atc.yml'}: ") for line in lines)


@pytest.mark.parametrize("repository", [True, False])
def test_a_command_in_a_subfolder_uses_the_atc_yml_of_its_repository_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], repository: bool
) -> None:
    top = tmp_path / "team"
    (top / "sigma" / "windows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml", top / "sigma/windows")
    (top / "atc.yml").write_text("rules: sigma\ntargets: [splunk]\n", encoding="utf-8")
    if repository:
        (top / ".git").mkdir()  # what marks the repository's top
    (tmp_path / "atc.yml").write_text("rules: elsewhere\n", encoding="utf-8")  # above the repository: never read
    monkeypatch.chdir(top / "sigma" / "windows")
    code = main(["check"])
    err = capsys.readouterr().err
    if repository:
        assert code == 0, err
        args = build_parser().parse_args(["build"])
        assert settings_from_args(args, Path.cwd()).rules == (top / "sigma",)
    else:
        assert code == 2 and "no atc.yml in" in err and "atc init" in err


@pytest.mark.parametrize(("text", "line"), [("rules: [rules\n", 2), ("rules: rules\n  bad: indent\n", 2), ("a: 1\n\t- b\n", 2)])
def test_an_atc_yml_that_is_not_yaml_is_one_line_with_its_line(tmp_path: Path, text: str, line: int) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(config)
    message = str(caught.value)
    assert message.startswith(f"{config}:{line}: not valid YAML: ") and "\n" not in message, message


def test_a_setting_given_twice_in_atc_yml_is_refused_naming_each_repetition(tmp_path: Path) -> None:
    config = tmp_path / "atc.yml"
    config.write_text("targets: [splunk]\nhistory:\n  enabled: true\n  enabled: false\ntargets: [grep]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(config)
    assert str(caught.value).splitlines() == [
        f"{config}:4: 'enabled' is set again in the same mapping; keep one",
        f"{config}:5: 'targets' is set again in the same mapping; keep one",
    ]
    config.write_text("targets: [grep]\nhistory: {enabled: false}\n", encoding="utf-8")
    assert load_config_file(config).targets == ("grep",)


@pytest.mark.parametrize("command", ["build", "serve", "check", "diff", "verify"])
def test_config_help_says_where_atc_looks_for_atc_yml(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--config's default is the nearest atc.yml up to the repository's top (as find_config looks), not only the current folder's."""
    text = " ".join(help_text(command, capsys).split())
    assert "when present" not in text and "in the current folder or given with --config" not in text
    assert re.search(
        r"--config CONFIG an atc\.yml with the settings \(default: the nearest atc\.yml from the current folder up to the top of its git repository\)",
        text,
    )


def test_serve_strict_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    """atc serve never exits on problems: its --strict makes mkdocs warnings fail a site build, as its help now says."""
    text = " ".join(help_text("serve", capsys).split("atc.yml keys")[0].split())
    assert "--strict fail a site build on any mkdocs warning" in text and "exit with status 1" not in text


def test_every_path_setting_reads_a_leading_tilde_as_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rules: ~/detections` in atc.yml (or `--rules=~/x`, which no shell expands) names the home folder, not a folder called ~."""
    home = tmp_path / "home"
    (home / "kb").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    parser = build_parser()
    checked = 0
    for setting in schema():
        if not isinstance(setting.value, (PathValue, PathList)):
            continue
        value = ["~/kb"] if isinstance(setting.value, PathList) else "~/kb"
        (tmp_path / "atc.yml").write_text(yaml.safe_dump({"rules": "~/kb", setting.key: value}), encoding="utf-8")
        settings_read = settings_from_args(parser.parse_args(["build"]), tmp_path, check=False)
        read = getattr(settings_read, setting.key)
        assert read in (home / "kb", (home / "kb",)), (setting.key, read)
        checked += 1
    assert checked >= 5
    from_option = settings_from_args(parser.parse_args(["build", "--rules=~/kb"]), tmp_path, check=False)
    assert from_option.rules == (home / "kb",)


def test_a_tilde_naming_no_known_home_folder_is_a_settings_error(tmp_path: Path) -> None:
    """`rules: ~nosuchuser/kb` (or --rules=~nosuchuser) is a message naming the key, not a traceback."""
    (tmp_path / "atc.yml").write_text("rules: ~atc-no-such-user/kb\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"atc\.yml: 'rules' names a home folder that is not known here: '~atc-no-such-user/kb'"):
        settings_from_args(build_parser().parse_args(["build"]), tmp_path, check=False)
    with pytest.raises(ConfigError, match=r"--rules names a home folder that is not known here"):
        settings_from_args(build_parser().parse_args(["build", "--rules=~atc-no-such-user"]), tmp_path / "none", check=False)
