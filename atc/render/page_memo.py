"""Rendered rule pages remembered across builds, keyed by a digest of everything the page is rendered from."""
from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atc.memo import Memo, code_digest, source_digest
from atc.model import Rule

if TYPE_CHECKING:
    from atc.render.pages import PageRenderer


class _ContextPickler(pickle.Pickler):
    """Pickles a page's context with every Rule replaced by that rule's own digest (each rule is pickled once per build)."""

    def __init__(self, file: io.BytesIO, memo: PageMemo) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.page_memo = memo

    def persistent_id(self, obj: Any) -> bytes | None:
        if obj is self.page_memo.renderer.targets:  # part of the shared digest already
            return b"targets"
        if isinstance(obj, Rule):
            return self.page_memo.digests.get(id(obj)) or self.page_memo.rule_digest(obj)
        if type(obj) is list and obj and isinstance(obj[0], Rule):  # a list of rules: their digests, joined at C speed
            try:
                return hashlib.sha256(b"".join(map(self.page_memo.digests.__getitem__, map(id, obj)))).digest()
            except KeyError:  # not only the knowledge base's rules
                return None
        return None


class PageMemo:
    """Renders a page only when its template, the rendering code, the knowledge base's shared facts or its context changed."""

    def __init__(self, renderer: PageRenderer, templates_dir: Path, cache_dir: Path) -> None:
        self.renderer = renderer
        self.memo = Memo(cache_dir, "page")
        kb = renderer.kb
        shared = pickle.dumps((kb.data_needed, kb.logging_policies, kb.triggers, kb.attack, renderer.targets), protocol=pickle.HIGHEST_PROTOCOL)
        templates = source_digest(*(p for p in templates_dir.rglob("*") if p.is_file()))
        self.base = hashlib.sha256(code_digest() + templates + hashlib.sha256(shared).digest()).digest()
        self.slots: list[str] = []
        self.digests = {id(rule): self.rule_digest(rule) for rule in kb.rules}  # by object: the rules live as long as the build

    @staticmethod
    def rule_digest(rule: Rule) -> bytes:
        """A digest of one rule's whole state (facts, links, conversions)."""
        return hashlib.sha256(pickle.dumps(rule, protocol=pickle.HIGHEST_PROTOCOL)).digest()

    def render(self, slot: str, template: str, context: dict[str, object]) -> str:
        """The page for slot: remembered when made from the same inputs, else rendered and remembered."""
        self.slots.append(slot)
        buffer = io.BytesIO()
        try:
            _ContextPickler(buffer, self).dump((template, context))
        except (pickle.PicklingError, TypeError, AttributeError):
            return self.renderer.render(template, **context)
        digest = hashlib.sha256(self.base + buffer.getvalue()).digest()
        text = self.memo.get(slot, digest)
        if text is None:
            text = self.renderer.render(template, **context)
            self.memo.put(slot, digest, text)
        return text

    def close(self) -> None:
        """Write the newly rendered pages and forget pages no longer generated."""
        self.memo.close(keep=self.slots)
