"""Rendered pages remembered across builds, keyed by a digest of everything each page is made from."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from atc.common.cache import Store, code_digest, digest, files_digest, value_digest
from atc.convert.targets import Target
from atc.model import KnowledgeBase, Rule, RuleSummary

T = TypeVar("T")


class _ContentPickler(pickle.Pickler):
    """Pickles a value by content alone, with known objects replaced by short references (see PageMemo.references).

    In fast mode (no memo) an object shared twice is written twice: the bytes do not depend on which equal objects
    happen to be one object, as they do between a freshly parsed rule and one read back from the memo. The values
    are trees: no object refers back to itself.
    """

    def __init__(self, file: io.BytesIO, references: dict[int, bytes]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.references = references

    def persistent_id(self, obj: Any) -> bytes | None:
        found = self.references.get(id(obj))
        if found is not None:
            return found
        if isinstance(obj, (set, frozenset)):  # iteration order follows the process's string hashing: sorted instead
            return b"set:" + content_digest(sorted(obj), self.references)
        if type(obj) is list and obj and isinstance(obj[0], (Rule, RuleSummary)):  # many rules: their digests, joined at C speed
            try:
                return digest(b"".join(map(self.references.__getitem__, map(id, obj))))
            except KeyError:  # not only the knowledge base's rules
                return None
        return None


def content_digest(value: object, references: dict[int, bytes] | None = None) -> bytes:
    """A digest of the value's content (with references: the known objects by their references)."""
    if not references:
        return value_digest(value)
    return value_digest(value, lambda buffer: _ContentPickler(buffer, references))


def rule_digest(rule: Rule) -> bytes:
    """A digest of a rule's whole state but its parsed YAML and conditions, which its text and the loader's code (in the base digest) decide."""
    return content_digest({name: value for name, value in vars(rule).items() if name not in ("data", "conditions")})


class PageMemo:
    """Makes a page only when its template, the rendering code, the knowledge base's shared facts or its own inputs changed."""

    def __init__(
        self, kb: KnowledgeBase, targets: list[Target], summaries: list[RuleSummary], templates_dir: Path | Sequence[Path], cache_dir: Path
    ) -> None:
        self.memo = Store(cache_dir, "page")
        self.slots: list[str] = []
        self.made = 0  # pages (and other outputs) made in this build; the rest were remembered
        # objects whose content is part of the base digest are referred to by name: ATT&CK, every kind's items but rules, targets
        refs: dict[int, bytes] = {id(kb.attack): b"attack", id(targets): b"targets"}
        refs.update((id(technique), f"technique:{tid}".encode()) for tid, technique in kb.attack.techniques.items())
        refs.update((id(tactic), f"tactic:{tactic.id}".encode()) for tactic in kb.attack.tactics)
        named = kb.named_items()
        for kind, items in named.items():
            refs.update((id(item), f"{kind}:{key}".encode()) for key, item in items.items())
        shared = content_digest((named, kb.attack, targets))
        folders = [templates_dir] if isinstance(templates_dir, Path) else list(templates_dir)
        templates = digest(*(files_digest((p for p in folder.rglob("*") if p.is_file()), folder) for folder in folders))
        self.base = digest(code_digest(), templates, shared)
        refs.update((id(rule), rule_digest(rule)) for rule in kb.rules)
        refs.update((id(summary), content_digest(summary)) for summary in summaries)
        self.references = refs

    def remember(self, inputs: object, make: Callable[[], T]) -> T:
        """What make() gives for these inputs: remembered when an earlier build made it from the same inputs.

        A value made from other remembered values (a family of pages) keeps them remembered while it is used.
        """
        try:
            inputs_digest = digest(self.base, content_digest(inputs, self.references))
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return make()
        slot = inputs_digest.hex()
        self.slots.append(slot)
        found = self.memo.get(slot, inputs_digest)
        if found is not None:
            value, parts = found
            self.slots.extend(parts)
            return value
        start = len(self.slots)
        value = make()
        self.memo.put(slot, inputs_digest, (value, self.slots[start:]))
        self.made += 1
        return value

    def recall(self, inputs: object) -> tuple[bytes | None, Any]:
        """The digest of a page's inputs and the page an earlier build made from them (None: make it, then keep() it)."""
        try:
            inputs_digest = digest(self.base, content_digest(inputs, self.references))
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return None, None
        slot = inputs_digest.hex()
        self.slots.append(slot)
        found = self.memo.get(slot, inputs_digest)
        if found is None:
            return inputs_digest, None
        value, parts = found
        self.slots.extend(parts)
        return inputs_digest, value

    def keep(self, inputs_digest: bytes, value: object) -> None:
        """Remember a page made from the inputs whose digest recall() gave."""
        self.memo.put(inputs_digest.hex(), inputs_digest, (value, []))
        self.made += 1

    def close(self) -> None:
        """Write what was newly made and forget what this build did not use."""
        self.memo.close(keep=self.slots)
