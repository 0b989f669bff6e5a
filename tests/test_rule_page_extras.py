"""A rule page's extra sections (log source, fields, related rules, edit link) and the site settings behind them."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import BuildResult
from atc.model import RuleSummary
from atc.render.context import RenderContext
from atc.render.pages import render_pages
from atc.render.rule_extras import RELATED_SHOWN, RelatedIndex, edit_url, edit_urls
from atc.settings import ConfigError, load_config_file
from tests.conftest import SEED_SLUG


def _rule(build: BuildResult, slug: str = SEED_SLUG):
    return next(rule for rule in build.kb.rules if rule.slug == slug)


def test_extra_sections_follow_every_target_section(default_build: BuildResult) -> None:
    page = default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]
    headings = re.findall(r"^(#{2,3} [^{\n]+?)(?: \{[^}\n]*\})?$", page, re.M)
    history = headings[-1:] == ["## History"]  # last, when the knowledge base is in git (tests/test_history.py)
    assert headings[-5 if history else -4 :][:4] == ["## Log source", "## Fields", "## ATT&amp;CK detection", "## Related rules"]
    assert "| windows | security | any |" in page
    assert "EventID, RelativeTargetName, ShareName" in page


def test_related_rules_share_a_technique_or_data_needed(default_build: BuildResult) -> None:
    summaries = [RuleSummary.of(rule) for rule in default_build.kb.rules]
    index = RelatedIndex(default_build.kb, summaries)
    for rule in summaries:
        related = index.related(rule)
        for group in related.techniques:
            assert group.key in index.technique_ids(rule)
            assert all(group.key in index.technique_ids(other) and other.slug != rule.slug for other in group.shown)
            sharing = [other for other in summaries if group.key in index.technique_ids(other)]
            assert len(group.shown) + group.more == len(sharing) - 1
        for group in related.data_needed:
            assert all(group.key in other.data_needed and other.slug != rule.slug for other in group.shown)
            assert len(group.shown) + group.more == sum(1 for other in summaries if group.key in other.data_needed) - 1


def test_related_rules_are_linked_and_capped(default_build: BuildResult) -> None:
    summaries = [RuleSummary.of(rule) for rule in default_build.kb.rules]
    index = RelatedIndex(default_build.kb, summaries)
    rule = max(summaries, key=lambda r: sum(len(g.shown) + g.more for g in index.related(r).techniques))
    group = index.related(rule).techniques[0]
    page = default_build.pages[f"Detection_Rules/{rule.slug}.md"]
    related = page.split("## Related rules", 1)[1]
    assert all(f"]({other.slug}.md)" in related for other in group.shown)
    assert len(group.shown) <= RELATED_SHOWN
    if group.page:
        assert group.page in default_build.pages


def test_edit_url_joins_the_repository_url_and_the_rule_path(default_build: BuildResult, tmp_path: Path) -> None:
    rule = _rule(default_build)
    root = rule.path.parents[2]
    url = edit_url(rule, "https://git.example.org/soc/rules/blob/main/", [root])
    assert url == f"https://git.example.org/soc/rules/blob/main/{rule.path.relative_to(root).as_posix()}"
    assert edit_url(rule, "javascript:alert(1)", [root]) is None
    assert edit_url(rule, "https://git.example.org/x", [tmp_path]) is None
    spaced = replace(rule, path=root / "a b" / "r(1).yml")
    assert edit_url(spaced, "https://git.example.org/x", [root]) == "https://git.example.org/x/a%20b/r%281%29.yml"


def test_edit_link_is_on_the_page_only_when_configured(default_build: BuildResult) -> None:
    rule = _rule(default_build)
    links = edit_urls(default_build.kb.rules, "https://git.example.org/soc/rules/blob/main", [rule.path.parents[2]])
    ctx = RenderContext.of(default_build.kb, default_build.targets, Path(__file__).resolve().parent.parent / "templates", edit_urls=links)
    page = render_pages(ctx)[f"Detection_Rules/{SEED_SLUG}.md"]
    assert f"[Edit this rule]({links[SEED_SLUG]})" in page
    assert "Edit this rule" not in default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]


def test_atc_yml_offline_and_repo_url(tmp_path: Path) -> None:
    config = tmp_path / "atc.yml"
    config.write_text("offline: true\nrepo_url: https://git.example.org/soc/rules/blob/main\n", encoding="utf-8")
    settings = load_config_file(config)
    assert settings.offline and settings.repo_url == "https://git.example.org/soc/rules/blob/main"
    assert settings.base_dir == tmp_path
    config.write_text("offline: yes please\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="offline"):
        load_config_file(config)
    config.write_text("base_dir: /etc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config_file(config)
