"""What a reader sees of text authors wrote on the pages: `code` in rule descriptions and false positives, tags that name a
page, Markdown links and code in Atomic test descriptions."""

from __future__ import annotations

import html
import re

import markdown
import pytest

from atc.engine import BuildResult
from atc.link.tags import tag_url
from atc.render.escape import md_prose, md_text_with_code
from tests.conftest import grep_build

RULE = """title: Shell open command
id: 22222222-0000-4000-8000-000000000001
status: test
description: 'Modifies the `*\\shell\\open\\command` key via `reg.exe` <script>x</script> and `a|b` ([cmd](https://attack.mitre.org/software/S0106))'
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
ATOMIC = """attack_technique: T1112
display_name: Modify Registry
atomic_tests:
- name: Recycle bin persistence via `reg.exe`
  auto_generated_guid: 22222222-0000-4000-8000-000000000002
  description: |
    Add a persistence via Recycle bin [vxunderground](https://github.com/vxunderground/VXUG-Papers/blob/main/x.pdf)
    with `reg.exe`; [not a link](javascript:alert(1)).
  supported_platforms: [windows]
  dependencies:
  - description: The `at` and `atd` executables must exist ([at(1)](https://man7.org/linux/man-pages/man1/at.1p.html))
    prereq_command: which at
    get_prereq_command: echo
  executor:
    name: command_prompt
    command: reg add HKCU\\x
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("rule-text")
    (out / "rules").mkdir()
    (out / "rules" / "shell_open.yml").write_text(RULE, encoding="utf-8")
    (out / "atomics" / "T1112").mkdir(parents=True)
    (out / "atomics" / "T1112" / "T1112.yaml").write_text(ATOMIC, encoding="utf-8")
    return grep_build(out, out / "rules", (out / "atomics",))


@pytest.fixture(scope="module")
def page(built: BuildResult) -> str:
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


def test_a_rule_description_and_false_positives_show_backticked_parts_as_code_and_links_as_links(page: str) -> None:
    description = next(line for line in page.splitlines() if line.startswith("| **Description**"))
    assert "Modifies the <code>\\*\\\\shell\\\\open\\\\command</code> key via <code>reg.exe</code> &lt;script&gt;" in description
    assert "`" not in description and "<script>" not in description
    assert "\\([cmd](https://attack.mitre.org/software/S0106)\\)" in description
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


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("see [Hexacorn](https://www.hexacorn.com/blog/2018/07/29/x/) and `reg.exe`", ["https://www.hexacorn.com/blog/2018/07/29/x/"]),
        ("[a](https://e.x/1), [b](http://e.x/2)", ["https://e.x/1", "http://e.x/2"]),
        (
            "([NTFS](https://e.x/wiki/NTFS#Boot_(VBR))): and [L](https://e.x/cc731033(v=ws.11)) is",
            ["https://e.x/wiki/NTFS#Boot_%28VBR%29", "https://e.x/cc731033%28v=ws.11%29"],
        ),
        ("[x](javascript:alert(1)) [y](data:text/html,x) [z](//evil/)", []),
        ("[*not* `bold`](https://e.x/) **kept** _as_ written", []),  # a label with a backtick stays text
    ],
)
def test_atomic_descriptions_link_http_markdown_links_and_show_the_rest_as_written(text: str, links: list[str]) -> None:
    markup = md_prose(text)
    rendered = markdown.markdown(markup)
    assert re.findall(r'href="([^"]+)"', rendered) == links
    expected = re.sub(r"\[([^\]`]+)\]\((https?://(?:[^()]|\([^()]*\))+)\)", r"\1", text) if links else text
    assert shown(markup) == expected.replace("`", "")


def test_an_atomic_test_page_shows_its_name_and_description_with_links_and_code(built: BuildResult) -> None:
    assert "## 1. Recycle bin persistence via <code>reg.exe</code>\n" in built.pages["Triggers/T1112.md"]
    description = next(line for line in built.pages["Triggers/T1112.md"].splitlines() if line.startswith("| **Description**"))
    assert (
        "Recycle bin [vxunderground](https://github.com/vxunderground/VXUG-Papers/blob/main/x.pdf) with <code>reg.exe</code>;"
        in description
    )
    assert "\\[not a link\\]\\(javascript:alert\\(1\\)\\)" in description
    assert (
        "1. The <code>at</code> and <code>atd</code> executables must exist \\([at\\(1\\)](https://man7.org/linux/man-pages/man1/at.1p.html)\\)\n"
        in (built.pages["Triggers/T1112.md"])
    )
