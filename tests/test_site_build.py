"""The default knowledge base's site builds with `mkdocs build --strict`: no broken link, no missing page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from atc.settings import REPO_ROOT
from atc.site.mkdocs_adapter import offline_overrides
from tests.conftest import SEED_SLUG
from tests.site_build import build_default_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_default_site(tmp_path_factory.mktemp("strict-site"))


def test_strict_build_has_the_entry_pages(site: Path) -> None:
    for page in ("index.html", "Detection_Rules/index.html", f"Detection_Rules/{SEED_SLUG}/index.html", "ATTACK/matrix/index.html"):
        assert (site / page).is_file(), page


def test_rule_index_ships_its_filter_and_data(site: Path) -> None:
    index = (site / "Detection_Rules/index.html").read_text(encoding="utf-8")
    assert 'id="atc-rule-filter"' in index and "javascripts/rule-filter.js" in index
    assert (site / "javascripts/rule-filter.js").is_file()
    slugs = {entry["slug"] for entry in json.loads((site / "rules.json").read_text(encoding="utf-8"))}
    assert SEED_SLUG in slugs


def test_rule_index_is_left_out_of_search(site: Path) -> None:
    docs = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))["docs"]
    assert not any(doc["location"].startswith("Detection_Rules/#") or doc["location"] == "Detection_Rules/" for doc in docs)
    assert any(doc["location"].startswith(f"Detection_Rules/{SEED_SLUG}/") for doc in docs)


ATTRIBUTE_LIST = re.compile(r"^(?:#{1,6} .*|`{3,}.*)\{[^}]*\}\s*$")  # a heading or fence ending in { ... }


def test_generated_markdown_is_plain_and_search_still_leaves_out_queries_and_sigma_text(site: Path) -> None:
    docs = site.parent / "docs"
    marked = [
        f"{page.name}: {line}"
        for page in docs.rglob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if ATTRIBUTE_LIST.match(line)
    ]
    assert marked == []
    seed = (docs / f"Detection_Rules/{SEED_SLUG}.md").read_text(encoding="utf-8")
    assert "### splunk\n" in seed and "```yaml\n" in seed  # the sections the search index leaves out are there
    entries = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))["docs"]
    seed_entries = [entry for entry in entries if entry["location"].startswith(f"Detection_Rules/{SEED_SLUG}/")]
    assert seed_entries and {entry["title"] for entry in seed_entries} >= {"Log source", "Fields"}
    text = json.dumps(seed_entries)
    for left_out in ("Sigma rule", "selection1", "PSEXESVC", "Reproduce", "sigma convert", "Related rules"):
        assert left_out not in text, left_out


def test_offline_overrides_keep_the_configured_plugins_and_drop_instant_navigation() -> None:
    overrides = offline_overrides(REPO_ROOT / "mkdocs.yml")
    plugins = overrides["plugins"]
    assert isinstance(plugins, list) and plugins[-1] == "offline"
    assert any(isinstance(item, dict) and "search" in item for item in plugins)
    theme = overrides["theme"]
    assert isinstance(theme, dict) and theme["name"] == "material"
    assert "content.code.copy" in theme["features"] and "navigation.instant" not in theme["features"]


def test_offline_site_links_files_not_folders(tmp_path: Path) -> None:
    site = build_default_site(tmp_path, offline=True)
    home = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'href="Detection_Rules/index\.html"', home)
    assert '<script src="javascripts/iframe-worker.js">' in home and "unpkg.com" not in home  # no CDN script in an air-gapped site
    assert (site / "search/search_index.js").read_text(encoding="utf-8").startswith("var __index = ")
