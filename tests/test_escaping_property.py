"""Property: whatever text a rule carries, its page keeps its table rows and sections, shows the text, and runs nothing."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from mkdocs.config import load_config
from mkdocs.utils.meta import get_data

from atc.load.attack import load_snapshot
from atc.model import KnowledgeBase, Rule
from atc.render.context import RenderContext
from atc.render.escape import MARKDOWN_LINK, visible
from atc.render.rule_extras import RelatedIndex
from atc.render.rule_pages import rule_context
from atc.settings import REPO_ROOT
from tests.html_safety import RULE_ROWS, first_table_labels, headings, injected_markup, links, visible_text

# the pieces attackers use: markup, Markdown syntax, table and fence breakers, entities, template syntax, odd characters
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "</td></tr></table>",
    "<!--",
    "-->",
    '<a href="javascript:alert(1)">x</a>',
    "javascript:alert(1)",
    "[x](javascript:alert(1))",
    "![i](x)",
    "<https://e.x/>",
    "|",
    "\n",
    "\r\n",
    "\r",
    "`",
    "```",
    "````",
    "~~~",
    "\\",
    "*",
    "_",
    "#",
    "# ",
    "---",
    "> ",
    "- ",
    "1. ",
    "!!! note",
    "&",
    "&lt;",
    "&#60;",
    "&amp;",
    "{{ x }}",
    "{% raw %}",
    "{#",
    '"',
    "'",
    "<",
    ">",
    "\t",
    "    ",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\u2028",
    "\ufeff",
    "é",
    "𝔘",
    ":",
    "=",
    "{: onclick=alert(1) }",
    '<div markdown="1">',
    "[^1]",
    "[a](https://e.x/",  # Markdown links, which descriptions and false positives keep when they lead to http(s)
    "](http://e.x/(a)",
    ")",
    '[`c` <b>](http://e.x/"onmouseover=alert(1))',
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)), max_size=12).map("".join)
hostile_url = st.tuples(
    st.sampled_from(
        ["https://example.com/", "http://e.x/", "javascript:", "JaVaScRiPt:", " javascript:", "data:text/html,", "vbscript:", "//evil/", ""]
    ),
    hostile_text,
).map("".join)

MKDOCS = load_config(config_file=str(REPO_ROOT / "mkdocs.yml"))
SECTIONS = ["Detection Rules", "Sigma rule", "Log source", "Fields", "ATT&CK detection", "Related rules"]


def _html(page: str) -> str:
    """The page as mkdocs turns it into HTML (front matter read as mkdocs reads it, same Markdown extensions)."""
    body, meta = get_data(page)
    assert set(meta) == {"title"}, meta
    return markdown.markdown(body, extensions=MKDOCS["markdown_extensions"], extension_configs=MKDOCS["mdx_configs"])


SNAPSHOT = load_snapshot()


def shown_with_code(value: str) -> str:
    """What a reader sees of text whose `backticked` parts are code (an unpaired backtick keeps them all), whitespace collapsed."""
    text = " ".join(visible(value).split())
    return text if text.count("`") % 2 else " ".join(text.replace("`", "").split())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=hostile_text,
    description=hostile_text,
    author=hostile_text,
    level=hostile_text,
    status=hostile_text,
    falsepositives=st.lists(hostile_text, max_size=3),
    references=st.lists(hostile_url, max_size=3),
    data_needed=st.lists(hostile_text.filter(str.strip), max_size=2),
    source_text=hostile_text,
    gap=hostile_text,
    tags=st.lists(hostile_text, max_size=3),
    rule_id=hostile_text,
)
def test_hostile_rule_text_keeps_the_page_whole_and_inert(
    title: str,
    description: str,
    author: str,
    level: str,
    status: str,
    falsepositives: list[str],
    references: list[str],
    data_needed: list[str],
    source_text: str,
    gap: str,
    tags: list[str],
    rule_id: str,
) -> None:
    rule = Rule(
        path=Path("rules/r.yml"),
        source_text=source_text,
        data={},
        id=rule_id,
        title=title,
        slug="r",
        description=description,
        status=status or None,
        level=level or None,
        author=author or None,
        references=references,
        falsepositives=falsepositives,
        data_needed=data_needed,
        data_needed_gap=gap or None,
        tags=tags,
    )
    kb = KnowledgeBase(attack=SNAPSHOT, items={"rule": [rule]})
    ctx = RenderContext.of(kb, [], REPO_ROOT / "templates")
    page = ctx.render("rule.md.j2", **rule_context(ctx, rule, ctx.summaries[0], RelatedIndex(kb, ctx.summaries)))
    html = _html(page)

    assert injected_markup(html) == []
    assert first_table_labels(html) == RULE_ROWS
    assert headings(html) == SECTIONS
    shown = visible_text(html)
    for value in (title, author, level, status, rule_id, *tags, *references, *(data_needed or [gap])):
        assert " ".join(visible(value).split()) in shown, value
    for value in (description, *falsepositives):  # `backticked` parts are code; [label](http URL) links: tests/test_rule_text.py
        assert shown_with_code(value) in shown or MARKDOWN_LINK.search(value), value
    assert " ".join(visible(source_text).split()) in shown  # the Sigma source, in its code block (tabs become spaces)
    assert all(href.startswith(("https://", "http://", "../", "#")) for href in links(html)), links(html)
    _, meta = get_data(page)
    assert meta["title"] == str(escape(" ".join(visible(title).split())))  # the theme puts it into <title> unescaped


LP_HEADINGS = ["Logging policy LP_x", "Configuration", "Data Needed it enables", "Rules behind it"]


def _policy_page(configuration: str) -> str:
    from atc.model import LoggingPolicy

    policy = LoggingPolicy("LP_x", Path("lp.yml"), "LP_x", configuration=configuration)
    ctx = RenderContext.of(KnowledgeBase(attack=SNAPSHOT, items={"logging_policy": {"LP_x": policy}}), [], REPO_ROOT / "templates")
    return _html(ctx.render("logging_policy.md.j2", "Logging_Policies/LP_x.md", policy=policy, data_needed=[], rules=[]))


def test_policy_configuration_fences_become_code_blocks_not_visible_backticks() -> None:
    """ATC's policies write their configuration in Markdown with fenced XML (44 of 55): the page showed the fences as text."""
    html = _policy_page(
        'Sysmon config to enable MD5:\n```\n<Sysmon schemaversion="4.00">\n  <HashAlgorithms>md5</HashAlgorithms>\n</Sysmon>\n```\n'
        "1. Then restart `Sysmon`\n"
    )
    assert "```" not in visible_text(html)
    [block] = re.findall(r"<pre.*?</pre>", html, re.S)  # the fenced part, one code block (its markup escaped)
    assert "<HashAlgorithms>md5</HashAlgorithms>" in visible_text(block) and "<HashAlgorithms>" not in block
    assert "Sysmon config to enable MD5:" in visible_text(html) and "<code>Sysmon</code>" in html
    assert "<ol>" not in html  # "1." stays text: the author's Markdown structure is not the page's


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configuration=st.lists(st.one_of(hostile_text, st.sampled_from(["```", "```xml", "~~~", "````"])), max_size=6).map("\n".join))
def test_hostile_policy_configuration_keeps_the_page_whole_and_inert(configuration: str) -> None:
    html = _policy_page(configuration)
    assert injected_markup(html) == []
    assert headings(html) == LP_HEADINGS
    assert all(href.startswith(("https://", "http://", "../", "#")) for href in links(html)), links(html)
