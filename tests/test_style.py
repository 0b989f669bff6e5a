"""The code is formatted and linted by ruff, as configured in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (it is in the test extras and requirements.lock)")
    return [found]


@pytest.mark.parametrize("command", [["format", "--check", "--quiet"], ["check", "--quiet", "--no-cache"]], ids=["format", "lint"])
def test_ruff_is_clean(command: list[str]) -> None:
    run = subprocess.run([*_ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"ruff {command[0]} found:\n{run.stdout}{run.stderr}"
