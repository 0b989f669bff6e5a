"""The YAML reader every input goes through: PyYAML's C loader (when built with libyaml), noting each key a mapping repeats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class YamlReader(_Loader):  # type: ignore[misc,valid-type]
    """The safe loader over one text, with `repeated`: the (key, line) of each key a mapping repeats (YAML keeps the
    last value and drops the others without a word)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [(key.tag, key.value) for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        if len(set(keys)) != len(keys):
            seen: set[tuple[str, str]] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if (key.tag, key.value) in seen:
                        self.repeated.append((key.value, key.start_mark.line + 1))
                    seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


def one_document(reader: YamlReader) -> list[Any]:
    """The text's single document (an error when it holds several), as a list of one."""
    return [reader.get_single_data()]


def all_documents(reader: YamlReader) -> list[Any]:
    """Every document of the text (`---` separated), in order."""
    documents = []
    while reader.check_data():
        documents.append(reader.get_data())
    return documents


def read_documents(text: str, load: Callable[[YamlReader], list[Any]] = one_document) -> tuple[list[Any], list[tuple[str, int]]]:
    """The documents `load` reads from the text, and the keys its mappings repeat as (key, line) in line order; YAML
    errors propagate."""
    reader = YamlReader(text)
    try:
        return load(reader), sorted(reader.repeated, key=lambda repeat: repeat[1])
    finally:
        reader.dispose()
