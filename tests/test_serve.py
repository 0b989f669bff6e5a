"""`atc serve`: its address option, what it watches, and which changes it ignores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from atc.settings import ConfigError, default_settings
from atc.site.serve import ignored, parse_address, watched_paths


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


def test_changes_to_outputs_staging_folders_and_swap_files_are_ignored(tmp_path: Path) -> None:
    root, docs = str(tmp_path), str(tmp_path / "docs")
    assert not ignored(str(tmp_path / "rules/a.yml"), root, [docs])
    assert ignored(str(tmp_path / "docs/Detection_Rules/a.md"), root, [docs])
    assert ignored(str(tmp_path / ".docs.atc-new-1-x/a.md"), root, [docs])
    assert ignored(str(tmp_path / "rules/.a.yml.swp"), root, [docs])
