"""What the atc plugin does to a generated page's Markdown before it is converted: rule text kept from acting as snippet notation.

pymdownx.snippets (a team may list it in its mkdocs.yml for its hand-written pages) reads its `--8<--` lines before any other
Markdown processing, inside code blocks too: a rule whose text holds `--8<-- "atc.yml"` on a line of its own would publish
that file in its page. On atc's generated pages every such line is escaped the way snippets itself defines (one more `;`
before the marker, which snippets takes out again), so the page shows the rule's text exactly and includes nothing.
"""

from __future__ import annotations

SNIPPETS = "pymdownx.snippets"


def escape_snippet_notation(markdown: str) -> str:
    """The Markdown with every line pymdownx.snippets would act on escaped: shown as written, nothing included or removed."""
    if "8<-" not in markdown:
        return markdown
    from pymdownx.snippets import SnippetPreprocessor  # the extension's own patterns: the same lines as the version installed

    lines = markdown.split("\n")
    for number, line in enumerate(lines):
        if "8<-" not in line:
            continue
        whole = SnippetPreprocessor.RE_ALL_SNIPPETS.match(line)
        if whole is not None:  # an inline snippet or a block marker (escaped or not): one more `;` after the indentation
            lines[number] = whole.group("space") + ";" + line[whole.end("space") :]
            continue
        section = SnippetPreprocessor.RE_SNIPPET_SECTION.match(line)
        if section is not None:  # a section marker anywhere in the line, which snippets would drop with the line
            lines[number] = line[: section.start("escape")] + ";" + line[section.start("escape") :]
    return "\n".join(lines)
