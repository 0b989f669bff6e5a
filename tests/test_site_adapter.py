"""The mkdocs adapter: the tested versions checked, a plain serial mkdocs build outside them, the same site either way."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from atc.site import mkdocs_adapter
from atc.site.mkdocs_adapter import TESTED, build_site, untested
from tests.test_deterministic import tree
from tests.test_site_plugin import RULES, _config, _docs, _rule

INSTALLED = mkdocs_adapter.installed_version


def _pretend(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str | None]) -> None:
    """Make the adapter read these versions instead of the installed ones."""
    monkeypatch.setattr(mkdocs_adapter, "installed_version", lambda package: versions.get(package, INSTALLED(package)))


def test_the_pinned_versions_are_tested_and_others_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    assert untested() is None  # requirements.lock pins versions inside TESTED
    for package, version in (("mkdocs", "1.7.0"), ("mkdocs", "1.5.3"), ("mkdocs-material", "9.9.0"), ("mkdocs-material", None)):
        monkeypatch.undo()
        _pretend(monkeypatch, {package: version})
        assert f"{package} {version or 'missing'} is outside the versions atc is tested with" in (untested() or ""), (package, version)
    _pretend(monkeypatch, {"mkdocs": TESTED["mkdocs"][0], "mkdocs-material": "9.8.10"})
    assert untested() is None


def test_outside_the_tested_versions_the_plain_build_makes_the_same_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, store = _docs(tmp_path / "docs"), tmp_path / "store.pickle"
    config = _config(tmp_path / "mkdocs.yml", 2)
    build_site(config, docs, tmp_path / "first", strict=True, jobs=2, previous_site=tmp_path / "none", page_store=store)
    (docs / "rules/r05.md").write_text(_rule(5).replace("Rule 5", "Rule five"), encoding="utf-8")
    guarded = tmp_path / "guarded"  # workers, and every page but one linked from the first build
    assert build_site(config, docs, guarded, strict=True, jobs=2, previous_site=tmp_path / "first", page_store=store) is not None

    _pretend(monkeypatch, {"mkdocs": "2.0.0"})
    said = io.StringIO()
    plain = tmp_path / "plain"
    assert build_site(config, docs, plain, strict=True, jobs=2, previous_site=guarded, page_store=store, stream=said) is None
    assert said.getvalue().splitlines() == [
        f"atc: mkdocs 2.0.0 is outside the versions atc is tested with (mkdocs >={TESTED['mkdocs'][0]},<{TESTED['mkdocs'][1]}): "
        "building the whole site with mkdocs's own serial build"
    ]
    assert not any(path.stat().st_nlink > 1 for path in plain.rglob("*.html"))  # nothing linked from an earlier build
    assert "Rule five" in (plain / "rules/r05/index.html").read_text(encoding="utf-8")
    index = json.loads((plain / "search/search_index.json").read_text(encoding="utf-8"))
    assert not [entry for entry in index["docs"] if entry["location"].endswith(("#detection-rules", "#splunk", "#related-rules"))]
    assert sum(entry["location"].startswith("rules/") for entry in index["docs"]) == RULES  # one entry per rule page
    assert "data-search-exclude" not in (plain / "rules/r05/index.html").read_text(encoding="utf-8")
    assert tree(plain) == tree(guarded)
