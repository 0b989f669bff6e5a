"""The live build of `atc serve`: an edit builds again only the pages it changed, and the site equals a full build's."""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import run_build
from atc.settings import REPO_ROOT, default_settings
from atc.site.live import LiveBuild
from tests.test_deterministic import tree

SEED = "windows/security/win_security_susp_psexec_execution.yml"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edit_builds_only_the_pages_it_changed_and_the_site_equals_a_full_build(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO_ROOT / "rules", rules)
    settings = replace(
        default_settings(), rules=(rules,), docs_dir=tmp_path / "docs", site_dir=tmp_path / "site", cache_dir=tmp_path / "cache", jobs=2
    )
    said = io.StringIO()
    session = LiveBuild(lambda: settings, said, budget=0.0)  # no time for more than one page per round
    first = session.build()
    assert session.updated is None and session.site is not None and len(first.pages) > 50  # the first build is whole

    _edit(rules / SEED, "detects execution of psexec", "detects every run of psexec")
    result = session.build()
    assert result is not None and result.written is not None and session.updated is not None and len(session.updated) == 1
    rounds = [session.updated]
    while session.pending:  # the larger pages follow, one per round, without running the pipeline again
        assert session.build() is None and session.updated is not None
        rounds.append(session.updated)
    built = [uri for pages in rounds for uri in pages]
    assert "Detection_Rules/win_security_susp_psexec_execution.md" in built and len(built) == len(set(built))
    assert len(built) <= result.written.written < 10  # the pages whose Markdown changed, nothing else
    assert "detects every run of psexec" in (tmp_path / "site/Detection_Rules/win_security_susp_psexec_execution/index.html").read_text(
        encoding="utf-8"
    )
    assert "site: 1 pages built again in" in said.getvalue() and ("larger pages follow" in said.getvalue()) == (len(rounds) > 1)

    session.budget = None
    _edit(rules / SEED, "title: ", "title: Renamed ")  # a new title reaches lists and indexes: more pages, still not all
    session.build()
    assert session.updated is not None and 1 < len(session.updated) < len(first.pages) // 2

    full = replace(settings, docs_dir=tmp_path / "docs2", site_dir=tmp_path / "site2", cache_dir=tmp_path / "cache2")
    run_build(full, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "site2")

    added = re.sub(r"^id: .*$", "id: 5f0c8a4e-3d9b-4f57-9a52-2f1f1c0d7e11", (rules / SEED).read_text(encoding="utf-8"), count=1, flags=re.M)
    (rules / "added.yml").write_text(added.replace("title: ", "title: Added "), encoding="utf-8")
    session.build()  # a new page: the whole (incremental) build
    assert session.updated is None and (tmp_path / "site/Detection_Rules/added/index.html").is_file()


def _session(tmp_path: Path) -> tuple[LiveBuild, Path, io.StringIO]:
    rules = tmp_path / "rules"
    shutil.copytree(REPO_ROOT / "rules", rules)
    settings = replace(
        default_settings(), rules=(rules,), docs_dir=tmp_path / "docs", site_dir=tmp_path / "site", cache_dir=tmp_path / "cache", jobs=2
    )
    said = io.StringIO()
    session = LiveBuild(lambda: settings, said)
    session.build()
    return session, rules, said


def test_an_edited_rule_is_shown_alone_first_and_the_whole_pipeline_follows(tmp_path: Path) -> None:
    session, rules, said = _session(tmp_path)
    page = tmp_path / "site/Detection_Rules/win_security_susp_psexec_execution/index.html"
    index = tmp_path / "docs/Detection_Rules/index.md"
    before = index.read_text(encoding="utf-8")

    _edit(rules / SEED, "title: ", "title: Renamed ")
    session.changed([str(rules / SEED), str(rules / "windows/security/.win_security_susp_psexec_execution.yml.swp")])
    assert session.build() is None  # no pipeline: the rule's page alone
    assert session.updated == ["Detection_Rules/win_security_susp_psexec_execution.md"] and session.pending
    assert "Renamed " in page.read_text(encoding="utf-8")
    assert index.read_text(encoding="utf-8") == before  # the lists wait for the whole pipeline
    assert "the edited rules' 1 pages made in" in said.getvalue()

    result = session.build()  # the follow-up round: the whole pipeline
    assert result is not None and "Renamed " in index.read_text(encoding="utf-8")
    while session.pending:
        assert session.build() is None
    full = replace(session.load_settings(), docs_dir=tmp_path / "docs2", site_dir=tmp_path / "site2", cache_dir=tmp_path / "cache2")
    run_build(full, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "site2") and tree(tmp_path / "docs") == tree(tmp_path / "docs2")


def test_anything_but_edited_rule_files_runs_the_whole_pipeline_at_once(tmp_path: Path) -> None:
    session, rules, _ = _session(tmp_path)
    (rules / SEED).unlink()  # deleted: a page goes
    session.changed([str(rules / SEED)])
    assert session.build() is not None and not session.follow
    assert not (tmp_path / "site/Detection_Rules/win_security_susp_psexec_execution/index.html").exists()

    other = next(path for path in sorted(rules.rglob("*.yml")))
    _edit(other, "title: ", "title: Renamed ")
    session.changed([str(other), str(tmp_path / "templates" / "rule.md.j2")])  # a template too: every page may change
    assert session.build() is not None and not session.follow


def test_pages_replaced_in_place_are_only_those_the_last_build_generated(tmp_path: Path) -> None:
    from atc.site.docs_writer import MANIFEST, replace_pages

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / MANIFEST).write_text('["a.md", "same.md", "linked.md"]', encoding="utf-8")
    (docs / "a.md").write_text("old", encoding="utf-8")
    (docs / "same.md").write_text("same", encoding="utf-8")
    (docs / "hand.md").write_text("mine", encoding="utf-8")
    (tmp_path / "elsewhere.md").write_text("outside", encoding="utf-8")
    (docs / "linked.md").symlink_to(tmp_path / "elsewhere.md")
    pages = {"a.md": "new", "same.md": "same", "hand.md": "generated", "linked.md": "generated", "added.md": "new page"}
    assert replace_pages(pages, docs) == ["a.md"]
    assert (docs / "a.md").read_text(encoding="utf-8") == "new" and (docs / "hand.md").read_text(encoding="utf-8") == "mine"
    assert (tmp_path / "elsewhere.md").read_text(encoding="utf-8") == "outside" and not (docs / "added.md").exists()
    assert sorted(path.name for path in docs.iterdir()) == sorted([MANIFEST, "a.md", "same.md", "hand.md", "linked.md"])


def test_an_edited_rule_whose_page_cannot_be_made_goes_to_the_whole_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atc.render import rule_pages

    session, rules, _ = _session(tmp_path)
    real = rule_pages.rule_context

    def failing(ctx, rule, summary, related):  # type: ignore[no-untyped-def]
        if "Renamed" in rule.title:
            raise ValueError("a value no check foresaw")
        return real(ctx, rule, summary, related)

    monkeypatch.setattr(rule_pages, "rule_context", failing)
    _edit(rules / SEED, "title: ", "title: Renamed ")
    session.changed([str(rules / SEED)])
    result = session.build()  # no first round: the pipeline, which reports the page it left out
    assert result is not None and not session.follow
    assert any(p.kind == "render" and "a value no check foresaw" in p.message for p in result.problems)


def test_a_team_mkdocs_yml_created_or_deleted_while_serving_rebuilds_every_page(tmp_path: Path) -> None:
    """The site was built with atc's own configuration, whose file did not change: one page was built again, the others kept the old name."""
    rules = tmp_path / "rules"
    (rules / "windows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "rules" / SEED, rules / "windows")
    team = tmp_path / "mkdocs.yml"
    settings = replace(
        default_settings(),
        rules=(rules,),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        mkdocs_config=team,
        targets=("splunk",),
        jobs=1,
    )
    session = LiveBuild(lambda: settings, io.StringIO())
    session.build()
    page = tmp_path / "site/Detection_Rules/win_security_susp_psexec_execution/index.html"
    for name, change in (
        ("Team KB", lambda: team.write_text("site_name: Team KB\n", encoding="utf-8")),
        ("Detection knowledge base", team.unlink),
    ):
        change()
        session.changed([str(team)])
        while session.build() is None or session.pending:
            pass
        assert f"<title>Suspicious PsExec Execution - {name}</title>" in page.read_text(encoding="utf-8")
