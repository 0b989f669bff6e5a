"""What a reader sees of a rule's own text on its page: `code` in descriptions and false positives, tags that name a page."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import markdown
import pytest

from atc.engine import BuildResult, run_build
from atc.link.tags import tag_url
from atc.render.escape import md_text_with_code
from atc.settings import default_settings

RULE = """title: Shell open command
id: 22222222-0000-4000-8000-000000000001
status: test
description: 'Modifies the `*\\shell\\open\\command` key via `reg.exe` <script>x</script> and `a|b`'
falsepositives:
  - 'Admins using `cmd.exe`'
  - 'an odd ` backtick'
tags:
  - attack.t1112
  - attack.g0016
  - attack.s0029
  - car.2016-04-004
  - cve.2021-44228
  - detection.threat-hunting
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\reg.exe'
  condition: selection
level: low
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("rule-text")
    (out / "rules").mkdir()
    (out / "rules" / "shell_open.yml").write_text(RULE, encoding="utf-8")
    settings = replace(
        default_settings(),
        rules=(out / "rules",),
        data_needed=(),
        logging_policies=(),
        triggers=(),
        events=None,
        targets=("grep",),
        docs_dir=out / "docs",
        site_dir=out / "site",
        cache_dir=out / "cache",
        build_site=False,
        exports=False,
        jobs=1,
    )
    built: BuildResult = run_build(settings, quiet=True)
    return built.pages["Detection_Rules/shell_open.md"]


def shown(markup: str) -> str:
    """The text a reader sees of inline Markdown: rendered, tags dropped, entities read."""
    rendered = markdown.markdown(markup, extensions=["tables"])
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize(
    "text",
    [
        "the `a` key",
        "`a` `b`",
        "`*\\shell\\open\\command` and `a|b` near `<b>x</b>`",
        "runs `dmesg -c`, which clears",
        "(`WindowsInstaller.Installer`) hosted",
        "1. `x` - 2. _y_ **z**",
    ],
)
def test_backticked_text_shows_as_code_with_every_other_character_and_space_as_written(text: str) -> None:
    markup = md_text_with_code(text)
    assert shown(markup) == text.replace("`", "")
    assert markup.count("<code>") == text.count("`") // 2


def test_a_rule_description_and_false_positives_show_backticked_parts_as_code(page: str) -> None:
    description = next(line for line in page.splitlines() if line.startswith("| **Description**"))
    assert "Modifies the <code>\\*\\\\shell\\\\open\\\\command</code> key via <code>reg.exe</code> &lt;script&gt;" in description
    assert "`" not in description and "<script>" not in description
    assert "<li>Admins using <code>cmd.exe</code></li><li>an odd \\` backtick</li>" in page


def test_tags_naming_a_group_software_analytic_or_cve_link_to_its_page(page: str) -> None:
    tags = next(line for line in page.splitlines() if line.startswith("**Rule id**"))
    assert "[<code>attack.g0016</code>](https://attack.mitre.org/groups/G0016)" in tags
    assert "[<code>attack.s0029</code>](https://attack.mitre.org/software/S0029)" in tags
    assert "[<code>car.2016-04-004</code>](https://car.mitre.org/analytics/CAR-2016-04-004/)" in tags
    assert "[<code>cve.2021-44228</code>](https://www.cve.org/CVERecord?id=CVE-2021-44228)" in tags
    assert ", <code>detection.threat-hunting</code>" in tags and ", <code>attack.t1112</code>" not in tags.split("attack.g0016")[1]


@pytest.mark.parametrize(
    ("tag", "url"),
    [
        ("cve.2021.44228", "https://www.cve.org/CVERecord?id=CVE-2021-44228"),  # two SigmaHQ rules write it so
        ("ATTACK.G0016", "https://attack.mitre.org/groups/G0016"),
        ("attack.g0016x", None),
        ("attack.t1003.001", None),  # techniques are linked in the table above the tags
        ("car.2016-04-004/../x", None),
        ("cve.２０２１-44228", None),  # ids count only in ASCII digits
        ("stp.1u", None),
    ],
)
def test_tag_url_builds_urls_only_from_whole_ascii_ids(tag: str, url: str | None) -> None:
    assert tag_url(tag) == url
