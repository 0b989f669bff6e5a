"""Rule pages show exactly what the backend returned: every query block equals `atc convert`, byte for byte."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from atc.commands import main
from atc.engine import BuildResult, run_build
from atc.settings import REPO_ROOT, default_settings

EXACT = Path(__file__).parent / "fixtures" / "exact" / "rules"
BLOCK = re.compile(r"^### (?P<target>[\w-]+)\n[ \n]*(?P<marks>`{3,})[\w+-]*\n(?P<query>.*?)\n(?P=marks)$", re.S | re.M)


@pytest.fixture(scope="module")
def exact_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("exact")
    settings = replace(
        default_settings(),
        rules=(EXACT,),
        docs_dir=out / "docs",
        site_dir=out / "site",
        cache_dir=out / "cache",
        build_site=False,
        jobs=1,
        events=None,
    )
    return run_build(settings, quiet=True)


def _blocks(result: BuildResult) -> list[tuple[Path, str, str]]:
    found = []
    for rule in result.kb.rules:
        page = result.pages[f"Detection_Rules/{rule.slug}.md"]
        blocks = {m["target"]: m["query"] for m in BLOCK.finditer(page)}
        assert set(blocks) == {key for key, c in rule.conversions.items() if c.status == "ok"}, rule.path
        found += [(rule.path, target, query) for target, query in blocks.items()]
    return found


def _convert(path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["convert", "-t", target, str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out[:-1]


def test_queries_keep_trailing_spaces_invisible_characters_and_line_breaks(
    exact_build: BuildResult, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = _blocks(exact_build)
    assert len(blocks) >= 25
    for path, target, query in blocks:
        assert query == _convert(path, target, capsys), (path.name, target)
    by_rule = {(p.stem, t): q for p, t, q in blocks}
    assert by_rule["trailing_space", "es-qs"].endswith("\\-w\\ hidden\\ ")  # was cut to `...hidden\\`, which does not parse
    assert by_rule["trailing_space", "splunk"].endswith(' -w hidden "')
    assert "\u202e" in by_rule["bidi_filename", "splunk"] and "<U+202E>" not in by_rule["bidi_filename", "splunk"]


def test_a_visible_warning_names_invisible_characters_next_to_the_block(exact_build: BuildResult) -> None:
    page = exact_build.pages["Detection_Rules/bidi_filename.md"]
    warnings = re.findall(r'<p class="atc-hidden-warning">.*?</p>', page)
    converted = sum(c.status == "ok" for c in next(r for r in exact_build.kb.rules if r.slug == "bidi_filename").conversions.values())
    # grep writes \\x{202e} and the watcher JSON \\u202e: the other targets hold the character itself
    assert len(warnings) == converted - 2 and all("U+202E RIGHT-TO-LEFT OVERRIDE" in w for w in warnings)
    assert "atc-hidden-warning" not in exact_build.pages["Detection_Rules/trailing_space.md"]
    tab = exact_build.pages["Detection_Rules/tab_value.md"]  # Python-Markdown expands tabs even in code blocks
    assert "U+0009 CHARACTER TABULATION</code>; the page's Markdown keeps them, but the site shows a tab as spaces" in tab


def test_every_default_kb_query_block_equals_atc_convert(default_build: BuildResult, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _blocks(default_build)
    assert len(blocks) > 300
    for path, target, query in blocks:
        assert query == _convert(path, target, capsys), (path.relative_to(REPO_ROOT), target)
