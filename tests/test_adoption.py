"""A team's own repository: `atc init`, the errors of an unconfigured or mistyped setup, template overrides and mkdocs.yml merged over atc's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from atc.commands import main
from atc.common.resources import templates_dir
from atc.site.mkdocs_config import merge, site_config
from tests.conftest import CORPORA, needs_corpora

RULE = Path(__file__).parent / "fixtures" / "documents" / "rules" / "sigma1_collection.yml"  # two rules, level medium


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """An empty folder as the current one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_build_without_atc_yml_or_rules_exits_2_pointing_at_init(repo, capsys):
    assert main(["build"]) == 2
    err = capsys.readouterr().err
    assert "no atc.yml" in err and "atc init" in err
    assert list(repo.iterdir()) == []  # nothing built anywhere


@pytest.mark.parametrize(
    "args, named",
    [
        (["build", "--rules", "does-not-exist"], "does-not-exist: rules path not found"),
        (["check", "--rules", "rules", "--triggers", "no-atomics"], "no-atomics: triggers path not found"),
    ],
)
def test_a_missing_given_path_exits_2_naming_it(repo, capsys, args, named):
    (repo / "rules").mkdir()
    assert main(args) == 2
    assert named in capsys.readouterr().err


def test_a_missing_path_in_atc_yml_exits_2_naming_it(repo, capsys):
    (repo / "rules").mkdir()
    (repo / "atc.yml").write_text("rules: rules\ndata_needed: dn-typo\n", encoding="utf-8")
    assert main(["check"]) == 2
    assert "dn-typo: data needed path not found (atc.yml or the options)" in capsys.readouterr().err


def test_init_in_an_empty_repository_writes_a_config_an_example_and_workflows_that_build(repo, capsys):
    assert main(["init", "--workflows", "--atc-repo", "acme/atc", "--atc-ref", "v1.0.0"]) == 0
    config = yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8"))
    assert config == {"rules": "rules"}  # everything else is a comment
    assert (repo / "rules" / "example_whoami.yml").is_file()
    assert {"/site/", ".atc-cache/"} <= set((repo / ".gitignore").read_text(encoding="utf-8").splitlines())
    check = yaml.safe_load((repo / ".github" / "workflows" / "pr-check.yml").read_text(encoding="utf-8"))
    steps = check["jobs"]["check"]["steps"]
    tool = next(step for step in steps if step.get("with", {}).get("repository") == "acme/atc")
    assert tool["with"]["ref"] == "v1.0.0" and tool["with"]["path"] == ".atc-tool"
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "python -m pip install -r .atc-tool/requirements.lock" in runs and "python -m pip install --no-deps ./.atc-tool" in runs
    assert main(["init"]) == 1  # an existing atc.yml is kept
    assert "exists" in capsys.readouterr().err
    assert main(["build", "--no-site", "-q", "-j", "1"]) == 0
    assert (repo / "docs" / "Detection_Rules" / "example_whoami.md").is_file()


def test_init_workflows_below_the_repositorys_top_writes_nothing_and_names_the_top(repo, capsys, monkeypatch):
    """GitHub runs only the top's .github/workflows/, and the workflows run atc there: in a subfolder they never ran."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    below = repo / "security"
    (below / "rules").mkdir(parents=True)
    (below / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(below)
    assert main(["init", "--workflows"]) == 1
    assert f"GitHub runs only the workflows in {repo.resolve() / '.github' / 'workflows'}" in capsys.readouterr().err
    assert sorted(path.name for path in below.iterdir()) == ["rules"] and not (repo / ".github").exists()
    assert main(["init"]) == 0 and (below / "atc.yml").is_file()  # the settings alone are fine below the top


def test_init_finds_rule_folders_data_needed_policies_and_atomics(repo, capsys):
    (repo / "detections" / "windows").mkdir(parents=True)
    (repo / "detections" / "windows" / "a.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "detections" / "deprecated").mkdir()
    (repo / "detections" / "deprecated" / "old.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "kb" / "dn").mkdir(parents=True)
    (repo / "kb" / "dn" / "DN_1.yml").write_text("title: DN_0001_x\nlogsource:\n  product: windows\n", encoding="utf-8")
    (repo / "kb" / "lp").mkdir()
    (repo / "kb" / "lp" / "LP_1.yml").write_text("title: LP_0001_x\n", encoding="utf-8")
    (repo / "art" / "atomics" / "T1033").mkdir(parents=True)
    assert main(["init"]) == 0
    config = yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8"))
    assert config == {"rules": "detections/windows", "data_needed": "kb/dn", "logging_policies": "kb/lp", "triggers": "art/atomics"}
    said = capsys.readouterr().err  # what it says it wrote is what it wrote: deprecated/ is left out of both
    assert "rules in detections/windows (detections/deprecated/ left out" in said and "rules in deprecated" not in said
    assert "# detections/deprecated/ holds 1 more rule files" in (repo / "atc.yml").read_text(encoding="utf-8")  # the path to add


@pytest.mark.parametrize(
    "names", [["2024"], ["#team", "2024"], ["yes"], ["null"], ["a: b", "[x]"], ["*all", "&x, y"], ["@team", "% rules"]]
)
def test_init_writes_folder_names_that_yaml_would_misread_so_that_they_load(repo, capsys, names):
    """A folder name YAML reads as a number, a boolean, null, a comment or syntax is quoted: the atc.yml atc init writes loads."""
    for number, name in enumerate(names):
        (repo / name).mkdir()
        rule = f"title: Rule {number}\nlogsource: {{product: windows}}\ndetection: {{sel: {{EventID: {number}}}, condition: sel}}\n"
        (repo / name / f"rule_{number}.yml").write_text(rule, encoding="utf-8")
    assert main(["init"]) == 0
    rules = yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8"))["rules"]
    assert (rules if isinstance(rules, list) else [rules]) == sorted(names)
    capsys.readouterr()
    assert main(["check"]) == 0
    assert f"check: {len(names)} rules" in capsys.readouterr().err


def test_init_finds_an_atomics_folder_linked_from_elsewhere(repo, tmp_path_factory):
    """vendor/atomics -> a shared Atomic Red Team checkout: the walk did not follow the link, so triggers were 'none found'."""
    elsewhere = tmp_path_factory.mktemp("art") / "atomics"
    (elsewhere / "T1033").mkdir(parents=True)
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "vendor").mkdir()
    (repo / "vendor" / "atomics").symlink_to(elsewhere, target_is_directory=True)
    assert main(["init"]) == 0
    assert yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8")) == {"rules": "rules", "triggers": "vendor/atomics"}


@needs_corpora()
def test_init_on_the_corpora_names_every_sigma_rule_folder():
    from atc.commands.init import discover

    found = discover(CORPORA)
    assert found.rules["sigma/rules"] > 3000 and "sigma/deprecated" in found.rules and "sigma/deprecated" not in found.rule_folders()
    assert found.folders["triggers"] == {"atomic-red-team/atomics"} and found.folders["data_needed"] == {"atc-data/data_needed"}


def test_a_team_template_overrides_one_template_and_atc_supplies_the_rest(repo):
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "templates").mkdir()
    own = (templates_dir() / "rule.md.j2").read_text(encoding="utf-8")
    (repo / "templates" / "rule.md.j2").write_text(
        own.replace("## Log source", "TEAM-MARKER {{ rule.level }}\n\n## Log source"), encoding="utf-8"
    )
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    assert main(["build", "--no-site", "-q", "-j", "1"]) == 0
    assert "TEAM-MARKER medium" in (repo / "docs" / "Detection_Rules" / "r_2.md").read_text(encoding="utf-8")
    assert "TEAM-MARKER" not in (repo / "docs" / "index.md").read_text(encoding="utf-8")  # other pages: atc's templates


def test_a_team_template_no_page_uses_is_named_with_the_closest_name(repo, capsys):
    """templates/rules.md.j2 (or rule.md without .j2) was silently ignored: the team saw atc's page and no message."""
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "templates" / "parts").mkdir(parents=True)
    for name in ("rules.md.j2", "rule.md", "parts/footer.j2", "README.md", "home.md.j2", "orphan.j2"):
        (repo / "templates" / name).write_text("{% include 'parts/footer.j2' %}\n" if name == "home.md.j2" else "x\n", encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    main(["check"])
    said = [line for line in capsys.readouterr().err.splitlines() if "[template]" in line]
    assert said == [
        f"{repo / 'templates' / name}: warning: [template] replaces none of atc's templates and none of your templates includes it, "
        f"so no page uses it; {hint}"
        for name, hint in (
            ("orphan.j2", "atc's are named like about_data_component_matching.md.j2"),
            ("rule.md", "did you mean rule.md.j2?"),
            ("rules.md.j2", "did you mean rule.md.j2?"),
        )
    ]  # an override, a partial it includes and a file that is no template are fine
    assert main(["build", "--no-site", "-q", "-j", "1"]) == 0
    assert "did you mean rule.md.j2?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "text", "line", "why"),
    [
        ("rule.md.j2", "{% if rule.level %}\nbroken\n", 2, "template syntax error: Unexpected end of template"),
        ("home.md.j2", "# Home\n{{ no_such_name.x }}\n", 2, "template error: UndefinedError: 'no_such_name' is undefined"),
        ("home.md.j2", "# Home\n{% include 'missing.j2' %}\n", 2, "template not found: missing.j2"),
    ],
)
def test_a_broken_team_template_stops_the_build_with_one_line_naming_it(repo, capsys, name, text, line, why):
    """A team template is code: its error is exit status 2 with the template's file and line, no traceback."""
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "templates").mkdir()
    (repo / "templates" / name).write_text(text, encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    assert main(["build", "--no-site", "-q", "-j", "1"]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith(f"atc: {repo / 'templates' / name}:{line}: {why}"), error


def test_team_mkdocs_yml_is_merged_over_atcs_defaults(repo):
    (repo / "mkdocs.yml").write_text(
        "site_name: Team Rules\nrepo_url: https://example.com/team/rules\ntheme:\n  palette: {primary: red}\n  custom_dir: overrides\n"
        "nav:\n  - Handbook: handbook.md\nplugins:\n  - search:\n      lang: de\n",
        encoding="utf-8",
    )
    merged = yaml.load(site_config(repo / "mkdocs.yml", repo / ".atc-cache").read_text(encoding="utf-8"), Loader=yaml.Loader)
    assert merged["site_name"] == "Team Rules" and merged["repo_url"] == "https://example.com/team/rules"
    assert merged["theme"]["name"] == "material" and merged["theme"]["palette"] == {"primary": "red"}
    assert merged["theme"]["custom_dir"] == str(repo.resolve() / "overrides")
    assert merged["nav"][0] == {"Home": "index.md"} and merged["nav"][-1] == {"Handbook": "handbook.md"}
    assert merged["plugins"][0] == {"search": {"lang": "de"}} and "atc" in merged["plugins"]  # theirs replaces atc's by name
    assert "markdown_extensions" in merged  # atc's, untouched


def test_merge_adds_lists_and_joins_not_in_nav():
    base = {"extra_css": ["a.css"], "not_in_nav": "/x/*.md\n", "markdown_extensions": ["tables", {"toc": {"permalink": True}}]}
    over = {"extra_css": ["team.css"], "not_in_nav": "/team/*.md", "markdown_extensions": [{"toc": {"permalink": False}}, "abbr"]}
    assert merge(base, over) == {
        "extra_css": ["a.css", "team.css"],
        "not_in_nav": "/x/*.md\n/team/*.md",
        "markdown_extensions": ["tables", {"toc": {"permalink": False}}, "abbr"],
    }


def test_team_mkdocs_yml_reaches_the_built_site(repo):
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    (repo / "mkdocs.yml").write_text("site_name: Team Rules\nnav:\n  - Handbook: handbook.md\n", encoding="utf-8")
    (repo / "docs").mkdir()
    (repo / "docs" / "handbook.md").write_text("# Handbook\n\nHow we triage.\n", encoding="utf-8")
    assert main(["build", "-q", "-j", "1", "--strict"]) == 0
    home = (repo / "site" / "index.html").read_text(encoding="utf-8")
    assert "Team Rules" in home and 'href="handbook/"' in home
    assert (repo / "site" / "handbook" / "index.html").is_file()


def test_rule_text_is_not_snippet_notation_when_the_team_enables_pymdownx_snippets(repo):
    """A team's mkdocs.yml lists pymdownx.snippets for its handbook; a rule's `--8<--` lines include nothing and show as written."""
    (repo / "secret.txt").write_text("SECRET-FROM-THE-REPOSITORY\n", encoding="utf-8")
    (repo / "rules").mkdir()
    description = '  --8<-- "secret.txt"\n  ;--8<-- "secret.txt"\n  --8<--\n  secret.txt\n  --8<--\n  a --8<-- [start:part] b\n'
    (repo / "rules" / "r.yml").write_text(
        "title: Snippet rule\nid: 5f0e2c4e-6f0a-4c59-9d68-0e6f2b1c7a11\nstatus: test\ndescription: |\n"
        + description
        + "logsource: {category: process_creation, product: windows}\n"
        "detection:\n  sel:\n    CommandLine|contains: x\n  condition: sel\nlevel: low\n",
        encoding="utf-8",
    )
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\nhistory: {enabled: false}\n", encoding="utf-8")
    (repo / "mkdocs.yml").write_text("nav:\n  - Handbook: handbook.md\nmarkdown_extensions:\n  - pymdownx.snippets\n", encoding="utf-8")
    (repo / "docs").mkdir()
    (repo / "docs" / "handbook.md").write_text('# Handbook\n\n--8<-- "secret.txt"\n', encoding="utf-8")
    assert main(["build", "-q", "-j", "1"]) == 0
    page = (repo / "site" / "Detection_Rules" / "r" / "index.html").read_text(encoding="utf-8")
    assert "SECRET-FROM-THE-REPOSITORY" not in page
    sigma = page[page.index('<code class="language-yaml">') :]
    sigma = sigma[: sigma.index("</code>")]
    for line in description.splitlines():  # the rule's own text, exactly
        assert line.replace("<", "&lt;") in sigma.splitlines()
    assert "SECRET-FROM-THE-REPOSITORY" in (repo / "site" / "handbook" / "index.html").read_text(encoding="utf-8")  # theirs: still on


@pytest.mark.parametrize("name", ["pr-check.yml", "pr-comment.yml", "pages.yml"])
def test_workflows_written_by_init_match_the_github_schema(repo, name):
    from tests.test_workflows import schema_check

    assert main(["init", "--workflows", "--atc-repo", "acme/atc", "--atc-ref", "v1.0.0"]) == 0
    done = schema_check(repo / ".github" / "workflows" / name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_init_takes_the_edit_links_from_the_github_remote(repo):
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "trunk"], cwd=repo, check=True)
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:acme/detections.git"], cwd=repo, check=True)
    assert main(["init"]) == 0
    config = yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8"))
    assert config["repo_url"] == "https://github.com/acme/detections/blob/trunk"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"- a list\n- not a mapping\n", "must be a mapping"),
        (b"site_name: [unclosed\n", "cannot be read"),
        (b"site_name: caf\xe9\n", "cannot be read"),
        (b"site_name: x\nplugins:\n  - search\n  - macros\n", "rule text would run as template code"),
        (b"plugins:\n  - macros:\n      render_by_default: true\n", "render_by_default: false"),
    ],
)
def test_an_unusable_team_mkdocs_yml_stops_the_build_with_one_line(repo, capsys, content, why):
    """Even without the site (its name is read for the pages): exit status 2, the file and the reason, no traceback."""
    (repo / "rules").mkdir()
    (repo / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    (repo / "mkdocs.yml").write_bytes(content)
    assert main(["build", "-q", "-j", "1", "--no-site"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"atc: {repo / 'mkdocs.yml'}: ") and why in line


def test_the_macros_plugin_is_allowed_when_pages_opt_in(repo):
    """With render_by_default off, only hand-written pages that ask for macros are templates: atc's pages are not."""
    (repo / "mkdocs.yml").write_text("plugins:\n  - macros:\n      render_by_default: false\n", encoding="utf-8")
    merged = yaml.load(site_config(repo / "mkdocs.yml", repo / ".atc-cache").read_text(encoding="utf-8"), Loader=yaml.Loader)
    assert {"macros": {"render_by_default": False}} in merged["plugins"]


def test_a_relative_config_reads_the_knowledge_base_as_the_one_found_from_its_folder(repo, capsys, monkeypatch):
    """--config team/atc.yml made every path relative to the current folder: other messages, other cache keys (conversions redone)."""
    team = repo / "team"
    (team / "rules").mkdir(parents=True)
    (team / "rules" / "r.yml").write_text(RULE.read_text(encoding="utf-8").replace("level: medium", "level: loud"), encoding="utf-8")
    (team / "atc.yml").write_text("rules: rules\n", encoding="utf-8")
    monkeypatch.chdir(team)
    main(["check"])
    found = capsys.readouterr().err
    monkeypatch.chdir(repo)
    main(["check", "--config", "team/atc.yml"])
    assert capsys.readouterr().err == found and f"{team / 'rules' / 'r.yml'}: " in found


def test_a_rule_file_ending_in_upper_case_yml_is_named_not_skipped_silently(repo, capsys):
    """Rule.YML (a Windows editor's habit) was left out without a word: atc, like sigma-cli, reads .yml and .yaml only."""
    (repo / "rules").mkdir()
    for name in ("r.yml", "Upper.YML", "Mixed.Yaml"):
        (repo / "rules" / name).write_text(RULE.read_text(encoding="utf-8").replace("title:", f"title: {name}", 1), encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\n", encoding="utf-8")
    main(["check"])
    err = capsys.readouterr().err
    for name, suffix in (("Upper.YML", ".YML"), ("Mixed.Yaml", ".Yaml")):
        assert (
            f"{repo / 'rules' / name}: warning: [rule] not read: atc (like sigma-cli) reads files ending .yml or .yaml, not {suffix}" in err
        )
    assert "check: 2 rules" in err  # r.yml's two documents


def test_data_needed_inside_the_rule_folder_as_atc_init_finds_it_is_not_read_as_rules(repo, capsys):
    """atc init wrote `rules: detections` and `data_needed: detections/data_needed`; each Data Needed file was then
    "not a Sigma rule"."""
    (repo / "detections" / "windows").mkdir(parents=True)
    (repo / "detections" / "windows" / "r.yml").write_text(RULE.read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "detections" / "data_needed").mkdir()
    dn = "title: DN_0001_x\nlogsource:\n  product: windows\n"
    (repo / "detections" / "data_needed" / "DN_1.yml").write_text(dn, encoding="utf-8")
    assert main(["init"]) == 0
    assert yaml.safe_load((repo / "atc.yml").read_text(encoding="utf-8")) == {
        "rules": "detections",
        "data_needed": "detections/data_needed",
    }
    capsys.readouterr()
    assert main(["check"]) == 0
    err = capsys.readouterr().err
    assert "[rule]" not in err and "check: 2 rules, 1 Data Needed" in err, err


def test_the_pre_commit_hook_runs_atc_check_over_the_repository_and_fails_on_a_broken_rule(repo, capsys):
    """What pre-commit runs for `id: atc-check`: its entry and the README's args, no file names, when a matching file changes."""
    import re
    import shlex

    from atc.settings import REPO_ROOT

    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(hook for hook in hooks if hook["id"] == "atc-check")
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    command, *args = shlex.split(hook["entry"])
    assert command == "atc"  # the console script pyproject.toml installs
    committed = ["rules/win/a.yml", "data_needed/DN_1.yaml", "atc.yml", "templates/rule.md.j2", "events/a/positive/1.json"]
    assert all(re.search(hook["files"], name) for name in committed)
    assert not any(re.search(hook["files"], name) for name in ["logo.png", "bench/run.py"])
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "- id: atc-check\n        args: [--strict]" in readme

    (repo / "rules").mkdir()
    rule = "title: Whoami run\nid: 6f0e2a52-1d3c-4d8e-9b1a-0c2d3e4f5a6b\nstatus: test\ndescription: whoami\nauthor: us\ndate: 2026-11-30\n"
    rule += (
        "logsource: {category: process_creation, product: windows}\ndetection: {sel: {Image|endswith: '\\\\whoami.exe'}, condition: sel}\n"
    )
    (repo / "rules" / "proc_creation_win_whoami_run.yml").write_text(rule + "level: low\n", encoding="utf-8")
    (repo / "atc.yml").write_text("rules: rules\n", encoding="utf-8")
    assert main([*args, "--strict"]) == 0, capsys.readouterr().err
    assert "check: 1 rules" in capsys.readouterr().err
    (repo / "rules" / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    assert main([*args, "--strict"]) == 1
    assert "rules/broken.yml:2: error" in capsys.readouterr().err
