"""`atc init`: write a commented atc.yml for the repository it runs in and, on request, its GitHub workflows."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from atc.common.resources import workflows_dir
from atc.kinds import folder_kinds, resolve
from atc.settings import CONFIG_NAME

_SKIPPED = {"docs", "site", "node_modules", "venv", "build", "dist", "__pycache__"}  # besides hidden folders
RULES, TRIGGERS = "rules", "triggers"  # settings keys: rule folders are grouped, triggers found by their atomics/ folder
_ATOMIC = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_HEAD = 65_536  # bytes read of each YAML file to tell what it is
_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([\w.-]+/[\w.-]+?)(?:\.git)?/?$")
EXAMPLE_RULE = "rules/example_whoami.yml"
WORKFLOWS = ("pr-check.yml", "pr-comment.yml", "pages.yml")
# the install step of atc's own workflows, and what a team's repository runs instead (atc checked out at a pinned ref)
OWN_INSTALL = "python -m pip install --no-deps ."
TOOL_DIR = ".atc-tool"
GITIGNORE = ("/site/", ".atc-cache/", f"/{TOOL_DIR}/", ".venv/")  # build outputs, the CI's checkout of atc, a local venv


@dataclass
class Found:
    """What `atc init` found in a repository, as paths relative to it (posix)."""

    rules: dict[str, int] = field(default_factory=dict)  # top folder -> rule files below it (deprecated/ folders too)
    folders: dict[str, set[str]] = field(default_factory=dict)  # every other kind's settings key -> folders holding its files
    rule_dirs: dict[str, int] = field(default_factory=dict)  # folder -> rule files directly in it

    def group_rules(self) -> None:
        """Rule folders by top folder; a top folder holding a deprecated/ folder is split into its children, so deprecated/ stays out."""

        def top(folder: str, depth: int) -> str:
            return "/".join(folder.split("/")[:depth]) if folder != "." else "."

        split = {top(folder, 1) for folder in self.rule_dirs if "deprecated" in folder.split("/")[1:]}
        for folder, count in self.rule_dirs.items():
            key = top(folder, 2 if top(folder, 1) in split and "/" in folder else 1)
            self.rules[key] = self.rules.get(key, 0) + count

    def rule_folders(self, deprecated: bool = False) -> list[str]:
        """The top rule folders atc.yml names (or, with deprecated, the deprecated/ folders its comments name)."""
        return sorted(top for top in self.rules if (top.split("/")[-1] == "deprecated") == deprecated)


def _recognisers() -> list[tuple[str, Callable[[str], bool]]]:
    """(settings key, recogniser) of each kind read from folders that recognises its files, in registry order with the
    rules last: a file another kind claims is not a rule."""
    kinds = sorted((kind for kind in folder_kinds().values() if kind.recognise), key=lambda kind: kind.settings_key == RULES)
    return [(str(kind.settings_key), resolve(str(kind.recognise))) for kind in kinds]


def _kind(path: Path, recognisers: list[tuple[str, Callable[[str], bool]]]) -> str | None:
    """The settings key of the kind whose file this YAML file is, from its first bytes (None: no kind's)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD).decode("utf-8", "replace")
    except OSError:
        return None
    return next((key for key, recognise in recognisers if recognise(head)), None)


def discover(root: Path) -> Found:
    """Rule folders (by top folder), every other kind's folders (its files recognised by the registry's `recognise`) and
    Atomic Red Team atomics/ folders below root."""
    found = Found()
    recognisers = _recognisers()
    for parent, folders, names in os.walk(root):
        here = Path(parent)
        rel = here.relative_to(root)
        folders[:] = sorted(name for name in folders if not name.startswith(".") and name not in _SKIPPED)
        if here.name == "atomics" and any(_ATOMIC.match(name) for name in folders):
            found.folders.setdefault(TRIGGERS, set()).add(rel.as_posix())
            folders[:] = []
            continue
        for name in folders:  # a link to an Atomic Red Team checkout elsewhere: the walk does not follow links
            if name == "atomics" and (here / name).is_symlink() and any(_ATOMIC.match(entry) for entry in _entries(here / name)):
                found.folders.setdefault(TRIGGERS, set()).add((rel / name).as_posix())
        for name in sorted(names):
            if not name.endswith((".yml", ".yaml")) or (here == root and name == CONFIG_NAME):
                continue
            kind = _kind(here / name, recognisers)
            if kind == RULES:
                found.rule_dirs[rel.as_posix()] = found.rule_dirs.get(rel.as_posix(), 0) + 1
            elif kind is not None:
                found.folders.setdefault(kind, set()).add(rel.as_posix())
    found.group_rules()
    return found


def _entries(folder: Path) -> list[str]:
    """The names in a folder (none when it cannot be read)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _outermost(folders: set[str]) -> list[str]:
    """The folders that are not inside another of them (the loaders search recursively)."""
    return sorted(f for f in folders if not any(f != other and f.startswith(other.rstrip("/") + "/") for other in folders))


def _yaml_text(text: str) -> str:
    """A folder name as a YAML string: plain when YAML reads it back as that string alone or in a list, else quoted."""
    try:
        plain = all(yaml.safe_load(f"key: {form}") == {"key": value} for form, value in ((text, text), (f"[{text}]", [text])))
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _yaml_list(items: list[str]) -> str:
    return _yaml_text(items[0]) if len(items) == 1 else "[" + ", ".join(map(_yaml_text, items)) + "]"


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def repo_url(root: Path) -> str | None:
    """The "edit this rule" base URL from the repository's GitHub remote `origin` and current branch, when there is one."""
    match = _GITHUB.match(_git(root, "remote", "get-url", "origin"))
    if match is None:
        return None
    prefix = _git(root, "rev-parse", "--show-prefix").rstrip("/")  # atc.yml's folder inside the repository
    path = f"/{prefix}" if prefix else ""
    return f"https://github.com/{match[1]}/blob/{_git(root, 'symbolic-ref', '--short', 'HEAD') or 'main'}{path}"


def config_text(found: Found, example: bool, url: str | None = None) -> str:
    """The commented atc.yml for what was found."""
    kept = found.rule_folders()
    counts = ", ".join(f"{top}: {found.rules[top]:,}" for top in kept)
    lines = [
        "# atc's settings for this repository, written by `atc init`. Paths are relative to this file;",
        "# every key is optional (`atc build --help` lists them all).",
        "",
        f"# Sigma rules, searched recursively ({'an example rule atc init wrote; add yours' if example else 'rule files found: ' + counts})",
        f"rules: {_yaml_list(kept)}",
    ]
    lines += [
        f"# {folder}/ holds {found.rules[folder]:,} more rule files; add it to `rules` to give them pages too"
        for folder in found.rule_folders(deprecated=True)
    ]
    for key, kind in folder_kinds().items():
        if key == RULES:
            continue
        outer = _outermost(found.folders.get(key, set()))
        example = "atomic-red-team/atomics" if key == TRIGGERS else key
        absent = "none found" if kind.recognise or key == TRIGGERS else "atc init does not recognise its files: name them here"
        lines += ["", f"# {kind.title}: {kind.folder_help or f'a folder of {key} YAML'}"] + (
            [f"{key}: {_yaml_list(outer)}"] if outer else [f"# {key}: {example}   ({absent})"]
        )
    lines += [
        "",
        "# Output: generated Markdown (your own pages there are kept) and the site",
        "# docs_dir: docs",
        "# site_dir: site",
        "",
        "# Query languages, in page order (default: all; `atc build --help` lists them)",
        "# targets: [splunk, es-qs, esql, kusto, sqlite]",
        "",
        '# "Edit this rule" links: the URL of this folder in your repository' + (" (from the git remote origin)" if url else ""),
        f"repo_url: {_yaml_text(url)}" if url else "# repo_url: https://github.com/your-org/your-rules/blob/main",
        "",
        "# Your look: templates here override atc's of the same name; mkdocs.yml is merged over atc's defaults",
        "# templates_dir: templates",
        "# mkdocs_config: mkdocs.yml",
        "",
        "# strict: true     # any problem fails the build (CI)",
        "# offline: true    # a site that opens from the file system",
        "",
    ]
    return "\n".join(lines)


EXAMPLE_TEXT = """\
title: Whoami Execution
id: 8e0bb260-d4b2-4fff-bb8d-3f82118e6892
status: experimental
description: An example rule written by `atc init`; replace it with your own. Detects whoami.exe, often run right after gaining access.
author: atc init
date: 2026-01-01
tags:
  - attack.discovery
  - attack.t1033
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
falsepositives:
  - Administrators checking their own account
level: low
"""


def team_workflow(text: str, repository: str, ref: str) -> str:
    """One of atc's workflows as a team's repository runs it: atc checked out at a pinned ref into .atc-tool and installed from there."""
    checkout = (
        "      - name: Check out atc (pinned)\n"
        "        uses: actions/checkout@v4\n"
        "        with:\n"
        f"          repository: {repository}\n"
        f"          ref: {ref}\n"
        f"          path: {TOOL_DIR}\n"
        "          persist-credentials: false\n\n"
        "      - name: Set up Python\n"
    )
    text = text.replace("requirements.lock", f"{TOOL_DIR}/requirements.lock")
    text = text.replace(OWN_INSTALL, f"python -m pip install --no-deps ./{TOOL_DIR}")
    return text.replace("      - name: Set up Python\n", checkout, 1)


def run_init(root: Path, force: bool, workflows: bool, repository: str, ref: str, out: list[str]) -> int:
    """Write atc.yml (and the workflows) into root; messages go to out. 1 when a file exists and force is off, or when
    workflows are asked for below the git repository's top (nothing is written)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if workflows and top and Path(top).resolve() != root.resolve():  # nothing written: atc.yml here would be found from below
        out.append(
            f"--workflows here writes nothing: GitHub runs only the workflows in {Path(top) / '.github' / 'workflows'}, and "
            "they run atc at the repository's top; run `atc init --workflows` there (atc.yml at the top), or `atc init` here"
        )
        return 1
    config = root / CONFIG_NAME
    if config.exists() and not force:
        out.append(f"{config} exists; run `atc init --force` to write it again")
        return 1
    found = discover(root)
    example = not found.rules
    if example:
        rule = root / EXAMPLE_RULE
        rule.parent.mkdir(parents=True, exist_ok=True)
        rule.write_text(EXAMPLE_TEXT, encoding="utf-8")
        found.rules["rules"] = 1
        out.append(f"no Sigma rules found: wrote an example, {rule}")
    config.write_text(config_text(found, example, repo_url(root)), encoding="utf-8")
    deprecated = found.rule_folders(deprecated=True)
    out.append(
        f"wrote {config}: rules in {', '.join(found.rule_folders()) or 'no folder'}"
        + (f" ({', '.join(f'{folder}/' for folder in deprecated)} left out: a comment in it says how to add it)" if deprecated else "")
        + "".join(
            f"; {kind.plural or kind.title.lower() + 's'} in {', '.join(_outermost(found.folders[key]))}"
            for key, kind in folder_kinds().items()
            if key in found.folders
        )
    )
    ignore = root / ".gitignore"
    kept = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    missing = [line for line in GITIGNORE if line not in kept]
    if missing:
        ignore.write_text("".join(f"{line}\n" for line in [*kept, *missing]), encoding="utf-8")
        out.append(f"added {', '.join(missing)} to {ignore}")
    if workflows:
        folder = root / ".github" / "workflows"
        folder.mkdir(parents=True, exist_ok=True)
        for name in WORKFLOWS:
            target = folder / name
            if target.exists() and not force:
                out.append(f"{target} exists; left as it is (--force overwrites)")
                continue
            target.write_text(team_workflow((workflows_dir() / name).read_text(encoding="utf-8"), repository, ref), encoding="utf-8")
            out.append(f"wrote {target}")
    out.append("next: `atc serve` to build and browse the site (or `atc build --offline`, then open site/index.html)")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init",
        help="write a commented atc.yml for the repository here (and its GitHub workflows)",
        description="Look through the current folder for Sigma rules, Data Needed items, logging policies, Atomic Red Team "
        "atomics and the files of any kind a plugin adds, and write a commented atc.yml naming them (with an example rule "
        "when there is none). With --workflows, also write .github/workflows/ (pull-request check, report comment, "
        "GitHub Pages) that install atc from a pinned checkout.",
        epilog="exit status: 0 written; 1 atc.yml (or a workflow) exists and --force was not given, or --workflows was given "
        "below the git repository's top (GitHub reads workflows only from the top's .github/workflows/).",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing atc.yml and workflows")
    init.add_argument("--workflows", action="store_true", help="also write the GitHub workflows into .github/workflows/")
    init.add_argument(
        "--atc-repo",
        default="your-org/atc",
        metavar="OWNER/NAME",
        help="the GitHub repository the workflows install atc from (default: your-org/atc)",
    )
    init.add_argument(
        "--atc-ref", default="main", metavar="REF", help="the tag or commit of atc the workflows install (default: main; pin a tag)"
    )


def run(args: argparse.Namespace) -> int:
    messages: list[str] = []
    status = run_init(Path.cwd(), args.force, args.workflows, args.atc_repo, args.atc_ref, messages)
    for line in messages:
        print(f"atc init: {line}", file=sys.stderr)
    return status
