"""`atc check` runs the validator sets named in atc.yml (pySigma's own, SigmaHQ's conventions), offline, with exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from atc.engine import check as run_check
from atc.link.validation import UnknownValidatorSetError
from atc.link.validator_sets import installed_sets, needs_download
from atc.settings import ConfigError, load_config_file

RULE_ID = "5b9d0f43-0d6f-4a43-9c51-6d1b5b1f0a11"
RULE = f"""\
title: Whoami run by a web server
id: {RULE_ID}
status: stable
description: A web server process starting whoami, which web shells often do first.
date: 2026-01-05
author: atc tests
tags:
    - attack.discovery
    - attack.t1033
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        ParentImage|endswith: '\\w3wp.exe'
        Image|endswith: '\\whoami.exe'
    condition: selection
falsepositives:
    - Unknown
level: high
"""


def _repo(tmp_path: Path, settings: str) -> Path:
    (tmp_path / "rules").mkdir(parents=True)
    (tmp_path / "rules" / "proc_creation_win_webserver_whoami.yml").write_text(RULE, encoding="utf-8")
    config = tmp_path / "atc.yml"
    config.write_text(f"rules: rules\ndata_needed: rules\nlogging_policies: rules\ntriggers: rules\n{settings}", encoding="utf-8")
    return config


def _findings(config: Path) -> list[str]:
    return sorted(p.message for p in run_check(load_config_file(config)).problems if p.kind == "sigma-validation")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any validator that tries to download its data fails the test."""
    import sigma.data.mitre_attack as attack
    import sigma.validators.sigmahq.data.base as sigmahq_data

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a validator tried to download data")

    monkeypatch.setattr(attack, "urlopen", refuse)
    monkeypatch.setattr(sigmahq_data, "urlopen", refuse)


def test_sigmahq_conventions_run_only_when_named(tmp_path: Path) -> None:
    default = _findings(_repo(tmp_path, ""))
    both = _findings(_repo(tmp_path / "b", "validators: [pysigma, sigmahq]\n"))
    assert not any("invalid casing" in m for m in default)
    assert any("title with invalid casing (word: web)" in m for m in both)  # SigmaHQ's titles are Title Case
    assert set(default) <= set(both)


def test_sigmahq_alone_leaves_pysigma_out(tmp_path: Path) -> None:
    rule = tmp_path / "rules" / "proc_creation_win_webserver_whoami.yml"
    config = _repo(tmp_path, "validators: [sigmahq]\n")
    rule.write_text(rule.read_text(encoding="utf-8").replace("|endswith: '\\w3wp.exe'", ": '*\\w3wp.exe'"), encoding="utf-8")
    findings = _findings(config)
    assert findings and not any("wildcard" in m for m in findings)  # pySigma's wildcards_instead_of_modifiers did not run
    config.write_text(config.read_text(encoding="utf-8").replace("[sigmahq]", "[sigmahq, pysigma]"), encoding="utf-8")
    assert any("wildcard" in m for m in _findings(config))


def test_exclusion_names_a_sigmahq_validator(tmp_path: Path) -> None:
    config = _repo(tmp_path, f"validators: [pysigma, sigmahq]\nvalidator_exclusions:\n  {RULE_ID}: [sigmahq_title_case]\n")
    assert _findings(config) == []


def test_unknown_set_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownValidatorSetError, match="unknown validator set.*sigmahk.*installed: pysigma, sigmahq"):
        run_check(load_config_file(_repo(tmp_path, "validators: [pysigma, sigmahk]\n")))
    with pytest.raises(ConfigError, match="'validators' must be a list"):
        load_config_file(_repo(tmp_path / "x", "validators: sigmahq\n"))


def test_validators_that_download_data_are_found_and_skipped() -> None:
    sets = installed_sets()
    assert {"attacktag", "d3_fendtag"} <= set(sets["pysigma"].needs_download)
    assert "sigmahq_logsource_unknown" in sets["sigmahq"].needs_download  # reads SigmaHQ's taxonomy file from GitHub
    assert "sigmahq_title_case" in sets["sigmahq"].runs
    for found in sets.values():
        assert not any(needs_download(cls) for cls in found.runs.values())
        assert not set(found.runs) & set(found.needs_download)
    assert "identifier_uniqueness" not in sets["pysigma"].runs  # the build reports duplicate ids itself
