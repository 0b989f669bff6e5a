"""The hostile corpus (tests/hostile/): the build finishes, names every bad file once, and plants no markup in the site."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from pathlib import Path

from tests.hostile_kb import CORPUS, EXPECTED, GENERATED, GENERATED_EVENTS, RULE_HEAD, Built, atc, kb_options, problems_of
from tests.html_safety import RULE_ROWS, first_table_labels, headings, injected_markup, visible_text


def test_the_corpus_has_at_least_40_cases_and_every_file_is_listed() -> None:
    committed = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file() and p.name != "expected.yml"}
    assert committed == set(EXPECTED["files"])
    assert len(EXPECTED["files"]) + len(EXPECTED["generated"]) >= 40
    assert set(EXPECTED["generated"]) == set(GENERATED) | set(GENERATED_EVENTS)


def test_the_build_finishes_without_a_traceback(hostile_build: Built) -> None:
    assert hostile_build.returncode == 0, hostile_build.stderr[-3000:]
    assert "Traceback" not in hostile_build.stderr
    assert (hostile_build.site / "index.html").is_file()


def test_each_bad_file_gets_exactly_one_error_naming_it(hostile_build: Built) -> None:
    errors: dict[str, list[dict]] = {}
    for problem in hostile_build.problems:
        if problem["severity"] == "error":
            errors.setdefault(problem["path"], []).append(problem)
    for path, expected in sorted(hostile_build.files.items()):
        got = errors.pop(path, [])
        if "kind" not in expected:
            assert not got, f"{path}: unexpected errors {got}"
            continue
        assert len(got) == 1, f"{path}: expected one error, got {got}"
        assert got[0]["kind"] == expected["kind"] and expected["message"] in got[0]["message"], f"{path}: {got[0]}"
        if "line" in expected:
            assert got[0]["line"] == str(expected["line"]), f"{path}: line {got[0]['line']}"
    assert not errors, f"errors for files the corpus does not list: {errors}"


def test_the_summary_counts_problems_by_kind(hostile_build: Built) -> None:
    summary = next(line for line in hostile_build.stderr.splitlines() if line.startswith("summary:"))
    expected: dict[str, int] = {}
    for item in hostile_build.files.values():
        if "kind" in item:
            expected[item["kind"]] = expected.get(item["kind"], 0) + 1
    for kind, count in expected.items():
        assert f"{kind}: {count}" in summary, (kind, summary)


def test_every_hostile_page_renders_its_text_literally_with_its_table(hostile_build: Built) -> None:
    for path, expected in sorted(hostile_build.files.items()):
        if "page" not in expected:
            continue
        html = (hostile_build.site / expected["page"] / "index.html").read_text(encoding="utf-8")
        assert " ".join(expected["shows"].split()) in visible_text(html), f"{path}: {expected['shows']!r} not shown"
        if expected["page"].startswith("Detection_Rules/"):
            assert first_table_labels(html) == RULE_ROWS, path


def test_no_page_of_the_site_carries_injected_markup(hostile_build: Built) -> None:
    pages = sorted(hostile_build.site.rglob("*.html"))
    assert len(pages) > 30
    for page in pages:
        assert injected_markup(page.read_text(encoding="utf-8")) == [], page


def test_the_search_index_carries_no_injected_markup(hostile_build: Built) -> None:
    index = json.loads((hostile_build.site / "search" / "search_index.json").read_text(encoding="utf-8"))
    for doc in index["docs"]:
        assert injected_markup(doc["title"]) == [] and injected_markup(doc["text"]) == [], doc["location"]


def test_only_http_links_come_from_rules(hostile_build: Built) -> None:
    page = (hostile_build.docs / "Detection_Rules" / "js_references.md").read_text(encoding="utf-8")
    references = next(line for line in page.splitlines() if line.startswith("| **References**"))
    targets = re.findall(r"\]\(([^)]*)\)", references)
    assert targets == [
        "https://example.com/%22%3E%3Cscript%3Ealert%283%29%3C/script%3E",
        "https://example.com/a%29%28javascript:alert%284%29",
        "https://example.com/ok",
    ]
    for shown in ("javascript:alert\\(1\\)", "java script:alert\\(6\\)", "vbscript:msgbox\\(1\\)", "data:text/html;base64,"):
        assert f"<li>{shown}" in references


def test_exports_carry_no_spreadsheet_formula(hostile_build: Built) -> None:
    text = (hostile_build.site / "analytics.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert any("HYPERLINK" in cell for row in rows for cell in row)
    assert all(len(row) == len(rows[0]) for row in rows)  # a line break inside a value splits no row
    lines = [line for row in rows for cell in row for line in cell.splitlines()]
    assert not [line for line in lines if line.startswith(("=", "+", "-", "@", "\t"))]
    assert "\r" not in text
    row = next(row for row in rows if row[0] == "6f1d0000-0000-4000-8000-000000000106")
    assert row[1] == 'Carriage return\n\'=HYPERLINK("http://evil.example/","cr")'


def test_every_page_front_matter_is_read_by_mkdocs_loader(hostile_build: Built) -> None:
    from mkdocs.utils.meta import get_data

    generated = json.loads((hostile_build.docs / ".atc-generated.json").read_text(encoding="utf-8"))
    pages = [name for name in generated if name.endswith(".md")]
    assert len(pages) > 50
    for name in pages:
        text = (hostile_build.docs / name).read_text(encoding="utf-8")
        assert text.startswith("---\n") or "\n---\n" in text, name
        body, meta = get_data(text)
        if text.startswith("---\n"):
            assert isinstance(meta.get("title"), str) and "<" not in meta["title"], name
            assert not body.lstrip().startswith(("title:", "---")), name  # nothing of the front matter left in the body


def test_front_matter_titles_reach_the_page_title_as_text(hostile_build: Built) -> None:
    html = (hostile_build.site / "Detection_Rules" / "front_matter_nonchar" / "index.html").read_text(encoding="utf-8")
    assert "<title>Front &lt;U+FFFE&gt; matter [click](javascript:alert(1))" in html
    assert injected_markup(html) == []


def test_rule_text_makes_no_markdown_structure(hostile_build: Built) -> None:
    html = (hostile_build.site / "Detection_Rules" / "field_heading" / "index.html").read_text(encoding="utf-8")
    assert not [h for h in headings(html) if "planted" in h.lower()]
    assert 'id="planted"' not in html and "admonition danger" not in html
    assert "planted list</li>" not in html and "planted item</li>" not in html
    assert "=== planted setext" in visible_text(html)


def test_docs_entries_leading_out_or_special_are_not_published(hostile_build: Built) -> None:
    reported = {Path(p["path"]).name: p for p in problems_of(hostile_build.stderr, hostile_build.docs.parent.parent) if p["kind"] == "docs"}
    assert set(reported) == {"leak.md", "outside", "fifo.md"}, reported
    assert all(p["severity"] == "error" for p in reported.values())
    published = "".join(page.read_text(encoding="utf-8", errors="replace") for page in hostile_build.site.rglob("*") if page.is_file())
    assert "Leaked docs secret" not in published
    assert not (hostile_build.site / "leak").exists() and not (hostile_build.site / "outside").exists()
    assert "Hand-written notes" in (hostile_build.site / "inside" / "index.html").read_text(encoding="utf-8")
    assert (hostile_build.site / ".atc-site").is_file()
    assert (hostile_build.docs / "leak.md").is_symlink() and (hostile_build.docs / "outside").is_symlink()  # kept, not deleted
    assert stat.S_ISFIFO((hostile_build.docs / "fifo.md").lstat().st_mode)


def test_page_names_stay_inside_docs_and_collisions_get_distinct_pages(hostile_build: Built) -> None:
    names = [p.relative_to(hostile_build.docs).as_posix() for p in hostile_build.docs.rglob("*.md")]
    assert all(re.fullmatch(r"[A-Za-z0-9_./-]+", name) and ".." not in name for name in names), names
    same = sorted(name for name in names if re.fullmatch(r"Detection_Rules/same_[0-9a-f]{8}\.md", name))
    assert len(same) == 3
    assert (hostile_build.docs / "Detection_Rules" / "index.md").read_text(encoding="utf-8").count("Same name") == 3
    assert "Leaked secret" not in (hostile_build.docs / "Detection_Rules" / "index.md").read_text(encoding="utf-8")
    odd_ids = sorted(p["message"] for p in hostile_build.problems if p["kind"] == "event-id")
    assert odd_ids == [
        f"EventID {value!r} is not written in ASCII digits; it is ignored when choosing Data Needed" for value in ("4688²", "٤٦٨٨")
    ]
    warned = sorted(p["path"] for p in hostile_build.problems if p["kind"] == "page-name")
    assert warned == ["rules/collide_a/same.yml", "rules/collide_b/same.yml", "rules/same!.yml"]


def test_check_reports_the_same_errors_and_writes_nothing(hostile_build: Built, tmp_path: Path) -> None:
    (tmp_path / "atc.yml").write_text("docs_dir: docs\nsite_dir: site\ncache_dir: cache\n", encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in hostile_build.kb.rglob("*") if not p.is_symlink()}
    result = atc("check", *kb_options(hostile_build.kb), "--events", str(hostile_build.kb / "events"), "--verbose", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["atc.yml"]
    assert {p: p.stat().st_mtime_ns for p in hostile_build.kb.rglob("*") if not p.is_symlink()} == before
    errors = sorted((p["path"], p["kind"], p["message"]) for p in problems_of(result.stderr, hostile_build.kb) if p["severity"] == "error")
    assert errors == sorted((p["path"], p["kind"], p["message"]) for p in hostile_build.problems if p["severity"] == "error")
    assert any(p["kind"] == "sigma-validation" for p in problems_of(result.stderr, hostile_build.kb))
    assert "check:" in result.stderr and "problems: " in result.stderr


def test_strict_check_fails_on_warnings_and_plain_check_passes_a_clean_kb(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a_fine_rule_with_a_long_enough_name.yml").write_text(
        "title: Fine\nid: 6f1d0000-0000-4000-8000-0000000000ff\nstatus: test\n"
        + RULE_HEAD
        + "detection:\n    selection:\n        CommandLine|contains: '*x'\n    condition: selection\nlevel: low\n",
        encoding="utf-8",
    )
    options = ["--rules", str(rules), "--data-needed", str(rules), "--logging-policies", str(rules), "--triggers", str(rules)]
    assert atc("check", *options, cwd=tmp_path).returncode == 0
    strict = atc("check", *options, "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and "sigma-validation" in strict.stderr
