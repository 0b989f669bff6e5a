"""The atc mkdocs plugin: worker processes give the serial build's site, warnings still fail --strict, theme whitespace goes."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
import yaml

from atc.settings import REPO_ROOT
from atc.site.mkdocs_adapter import SiteBuildError, build_site
from atc.site.page_html import mark_excluded_sections, search_table_text
from atc.site.plugin import CHUNK

RULES = 3 * CHUNK + 5  # pages outside the navigation, enough for several worker tasks
INDENT = re.compile(r"\n[\t\n\r ]+")


def _rule(number: int) -> str:
    """A rule-like page in plain Markdown: metadata table, code sections the plugin leaves out of search, links to a neighbour and its anchor."""
    neighbour = f"r{(number + 1) % RULES:02d}.md"
    return f"""---
title: "Rule {number}"
---
| Title | Rule {number} |
|:--|:--|
| **Level** | high |

## Detection Rules

### Sigma rule

```yaml
detection:
    selection:
        Image|endswith: '\\rule{number}.exe'
    condition: selection
```

### splunk

```text
Image="*\\\\rule{number}.exe"
```

Reproduce: <code>sigma convert -t splunk r{number:02d}.yml</code>

## Related rules

See [the next rule]({neighbour}) and [its detection]({neighbour}#detection-rules), or [home](../index.md#welcome).
"""


def _docs(root: Path, extra: dict[str, str] | None = None) -> Path:
    """A docs tree shaped like atc's: a few pages in the navigation, many rule pages outside it."""
    pages = {"index.md": "# Welcome\n\nSee [rule 0](rules/r00.md#detection-rules).\n", "about/notes.md": "# Notes\n\n- one\n- two\n"}
    pages["about/more.md"] = "# More\n\nOutside the navigation, at a rule page's depth but next to a page in it.\n"
    pages.update({f"rules/r{number:02d}.md": _rule(number) for number in range(RULES)})
    pages.update(extra or {})
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _config(path: Path, jobs: int | None) -> Path:
    """The repository's mkdocs.yml for the small tree; jobs None leaves the atc plugin out."""
    raw = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    plugins = [item for item in raw["plugins"] if "atc" not in (item if isinstance(item, dict) else {item: None})]
    raw.update(nav=[{"Home": "index.md"}, {"About": [{"Notes": "about/notes.md"}]}], not_in_nav="/rules/*.md\n/about/more.md\n")
    raw.update(plugins=plugins if jobs is None else [*plugins, {"atc": {"jobs": jobs}}], extra_css=[], extra_javascript=[])
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _build(tmp: Path, name: str, docs: Path, jobs: int | None) -> Path:
    site = tmp / name
    build_site(_config(tmp / f"{name}.yml", jobs), docs, site, strict=True)
    return site


def _files(site: Path) -> dict[str, bytes]:
    return {path.relative_to(site).as_posix(): path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The small tree built with two workers, in the main process only, and without the plugin."""
    tmp = tmp_path_factory.mktemp("plugin-sites")
    docs = _docs(tmp / "docs")
    return {name: _files(_build(tmp, name, docs, jobs)) for name, jobs in (("parallel", 2), ("serial", 1), ("plain", None))}


def test_parallel_build_is_byte_identical_to_serial(sites: dict[str, dict[str, bytes]]) -> None:
    parallel, serial = sites["parallel"], sites["serial"]
    assert parallel.keys() == serial.keys() and "search/search_index.json" in parallel
    assert [name for name in parallel if parallel[name] != serial[name]] == []


def test_plugin_changes_only_the_theme_whitespace_the_excluded_sections_and_table_search_text(sites: dict[str, dict[str, bytes]]) -> None:
    parallel, plain = sites["parallel"], sites["plain"]
    assert parallel.keys() == plain.keys()
    index, plain_index = (json.loads(site["search/search_index.json"]) for site in (parallel, plain))
    excluded = ("#detection-rules", "#sigma-rule", "#splunk", "#related-rules")
    assert sum(entry["location"].endswith(excluded) for entry in plain_index["docs"]) == 4 * RULES  # mkdocs alone indexes them
    # and the metadata table reads "Level: high" (no header row, its label with a colon): mkdocs alone gives "Title Rule 0 Level high"
    tables = [{**entry, "text": re.sub(r"^Title Rule \d+ Level high$", "Level: high", entry["text"])} for entry in plain_index["docs"]]
    assert index["docs"] == [entry for entry in tables if not entry["location"].endswith(excluded)]
    assert (
        "rule7.exe" not in parallel["search/search_index.json"].decode()
        and "Reproduce" not in parallel["search/search_index.json"].decode()
    )
    for name, data in parallel.items():
        if name == "search/search_index.json":
            continue
        if name.endswith(".html"):
            assert INDENT.sub("\n", data.decode()) == INDENT.sub("\n", plain[name].decode()), name
        else:
            assert data == plain[name], name
    page = parallel["rules/r07/index.html"].decode()
    assert len(page) < len(plain["rules/r07/index.html"]) and 'id="sigma-rule"' in page and "Reproduce" in page
    assert not INDENT.search(page[: page.index("<article")])  # navigation, header and toc: no indentation
    assert "\n        Image|endswith: '\\rule7.exe'" in page  # the code keeps its own


def test_worker_warning_reaches_the_main_process_and_fails_a_strict_build(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    docs = _docs(tmp_path / "docs", {"rules/r30.md": _rule(30) + "\nA [broken link](missing.md).\n"})
    with caplog.at_level(logging.WARNING), pytest.raises(SiteBuildError, match="Aborted with 1 warnings in strict mode"):
        _build(tmp_path, "site", docs, 2)
    [record] = [record for record in caplog.records if "missing.md" in record.getMessage()]
    assert record.levelno == logging.WARNING and "rules/r30.md" in record.getMessage()
    assert record.process != os.getpid()  # logged in a worker, replayed here


def test_excluded_sections_are_marked_by_heading_id_down_to_the_next_section_of_their_level() -> None:
    html = '<h1 id="t">T</h1><h2 id="detection-rules">D</h2><h3 id="splunk">s</h3><h4>x</h4><h2 id="log-source">L</h2><h3 id="a">a</h3>'
    marked = mark_excluded_sections(html, frozenset({"detection-rules"}))
    assert marked == (
        '<h1 id="t">T</h1><h2 data-search-exclude="section" id="detection-rules">D</h2>'
        '<h3 data-search-exclude="section" id="splunk">s</h3><h4 data-search-exclude="section">x</h4><h2 id="log-source">L</h2><h3 id="a">a</h3>'
    )
    assert mark_excluded_sections(html, frozenset()) == html


def test_table_search_text_has_labels_with_colons_and_lists_on_one_line() -> None:
    html = (
        "<table><thead><tr><th>Title</th><th>R</th></tr></thead><tbody>"
        '<tr><td style="text-align: left;"><strong>Trigger</strong></td><td><ul><li>a</li><li><a href="x">b</a></li></ul></td></tr>'
        "<tr><td>plain</td><td>cell</td></tr></tbody></table><ul><li>outside</li></ul>"
    )
    assert search_table_text(html) == (
        '<table><tbody><tr><td style="text-align: left;"><strong>Trigger</strong>:</td><td>a, <a href="x">b</a></td></tr>'
        "<tr><td>plain</td><td>cell</td></tr></tbody></table><ul><li>outside</li></ul>"
    )
    assert search_table_text("<p>no table</p>") == "<p>no table</p>"
