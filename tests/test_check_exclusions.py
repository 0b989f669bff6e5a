"""`atc check` honours validator exclusions from atc.yml, and rejects exclusions it cannot apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from atc.engine import check as run_check
from atc.settings import REPO_ROOT, ConfigError, load_config_file

SEED_ID = "c462f537-a1e3-41a6-b5fc-b2c2cef9bf82"


def _config(tmp_path: Path, exclusions: str) -> Path:
    path = tmp_path / "atc.yml"
    path.write_text(f"rules: {REPO_ROOT / 'rules' / 'windows' / 'security'}\nvalidator_exclusions:\n{exclusions}", encoding="utf-8")
    return path


def _validation_messages(config: Path) -> list[str]:
    kb = run_check(load_config_file(config))
    return [f"{Path(p.path).name}: {p.message}" for p in kb.problems if p.kind == "sigma-validation"]


def test_repository_knowledge_base_checks_clean_with_its_exclusions() -> None:
    kb = run_check(load_config_file(REPO_ROOT / "atc.yml"))
    assert kb.problems == []


def test_exclusion_silences_only_the_named_validator_for_the_named_rule(tmp_path: Path) -> None:
    without = _validation_messages(_config(tmp_path, "  {}\n"))
    assert any(m.startswith("win_security_susp_psexec_execution.yml: String contains wildcard") for m in without)
    with_exclusion = _validation_messages(_config(tmp_path, f"  {SEED_ID}: [wildcards_instead_of_modifiers]\n"))
    assert not any(m.startswith("win_security_susp_psexec_execution.yml") for m in with_exclusion)
    assert len(with_exclusion) == len(without) - 2  # the two wildcard findings of the seed rule, nothing else


@pytest.mark.parametrize(
    ("exclusions", "message"),
    [
        (f"  {SEED_ID}: [no_such_validator]\n", "unknown pySigma validator"),
        ("  not-a-uuid: [wildcards_instead_of_modifiers]\n", "is not a rule id"),
        (f"  {SEED_ID}: wildcards_instead_of_modifiers\n", "must map rule ids to lists"),
    ],
)
def test_bad_exclusions_are_clear_errors(tmp_path: Path, exclusions: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_check(load_config_file(_config(tmp_path, exclusions)))
