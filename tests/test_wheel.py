"""The installable tool: atc installed non-editable into a fresh venv outside the checkout, as the README and workflows do, builds a team's repository.

The recipe is the README's ("Install") and the workflows' install step, command for command:
    python -m venv .venv
    .venv/bin/pip install -r atc/requirements.lock
    .venv/bin/pip install --no-deps ./atc
then, in the team's repository, `atc init --workflows` and `atc build`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from atc.settings import REPO_ROOT

# what a checkout of atc holds that is no part of its source: at its top (the venv, build outputs), and anywhere (caches)
TOP_ONLY = {".venv", ".git", "site", "docs", ".atc-cache", "build", ".pytest_cache", ".hypothesis"}
ANYWHERE = {"__pycache__", "artifacts", "bundled"}


def not_source(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore: the names in a folder of the checkout that are not source."""
    top = Path(folder) == REPO_ROOT
    return {name for name in names if name in ANYWHERE or name.endswith(".egg-info") or (top and name in TOP_ONLY)}


def run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with atc installed from a copy of this checkout, non-editable."""
    root = tmp_path_factory.mktemp("wheel")
    checkout = root / "atc"
    shutil.copytree(REPO_ROOT, checkout, ignore=not_source)
    assert run([sys.executable, "-m", "venv", ".venv"], root).returncode == 0
    pip = str(root / ".venv" / "bin" / "pip")
    done = run([pip, "install", "--quiet", "-r", "atc/requirements.lock"], root)
    if done.returncode != 0:  # the package registry (or the pip cache) is unreachable: an environment problem, not atc's
        pytest.skip(f"cannot install requirements.lock: {done.stderr.strip().splitlines()[-1:]}")
    done = run([pip, "install", "--quiet", "--no-deps", "./atc"], root)
    assert done.returncode == 0, done.stderr
    shutil.rmtree(checkout)  # the installed tool must not need the checkout
    return root / ".venv" / "bin"


def test_the_installed_package_carries_templates_mkdocs_config_assets_and_snapshot(installed):
    code = (
        "import atc, atc.common.resources as r, atc.load.attack as a, atc.site.assets as s;"
        "print(r.templates_dir(), r.default_mkdocs_config(), r.workflows_dir(), a.DEFAULT_SNAPSHOT, s.STATIC_DIR, atc.__file__, sep='\\n')"
    )
    done = run([str(installed / "python"), "-c", code], installed)
    assert done.returncode == 0, done.stderr
    paths = [Path(line) for line in done.stdout.splitlines()]
    assert all("site-packages" in str(path) and path.exists() for path in paths), paths
    assert (paths[0] / "rule.md.j2").read_text(encoding="utf-8") == (REPO_ROOT / "templates" / "rule.md.j2").read_text(encoding="utf-8")
    assert {p.name for p in paths[2].iterdir()} == {"pr-check.yml", "pr-comment.yml", "pages.yml"}
    done = run([str(installed / "atc"), "--version"], installed)
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert done.returncode == 0 and done.stdout.startswith(f"atc {version} (pySigma 1."), done.stdout


def test_the_installed_tool_builds_a_scratch_rule_repository(installed, tmp_path):
    repo = tmp_path / "team-rules"
    repo.mkdir()
    assert run(["git", "init", "-q"], repo).returncode == 0
    done = run([str(installed / "atc"), "build"], repo)
    assert done.returncode == 2 and "atc init" in done.stderr
    done = run([str(installed / "atc"), "init", "--workflows"], repo)
    assert done.returncode == 0, done.stderr
    rule = Path(__file__).parent / "fixtures" / "documents" / "rules" / "logon_burst.yml"
    (repo / "rules" / "logon_burst.yml").write_text(rule.read_text(encoding="utf-8"), encoding="utf-8")
    done = run([str(installed / "atc"), "build", "--jobs", "2", "--targets", "splunk,esql,grep"], repo)
    assert done.returncode == 0, done.stderr
    assert "summary: 3 rules" in done.stderr
    page = (repo / "docs" / "Detection_Rules" / "logon_burst_2.md").read_text(encoding="utf-8")
    assert "| stats count as event_count by _time TargetUserName" in page
    assert (repo / "site" / "index.html").is_file() and (repo / "site" / "Detection_Rules" / "logon_burst_2" / "index.html").is_file()
    assert (repo / "site" / "stylesheets" / "atc.css").is_file()
