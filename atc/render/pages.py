"""Render every page of the knowledge base: a mapping of relative Markdown path to page text."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from atc.convert.targets import Target
from atc.link.attack import tactic_url, technique_url
from atc.load.rules import safe_slug
from atc.model import KnowledgeBase, Rule, TacticRef, TechniqueRef, TriggerRef
from atc.render.escape import code_text, md_text, template_environment
from atc.render.gaps import gap_groups
from atc.render.page_memo import PageMemo
from atc.render.rule_indexes import rule_index_pages
from atc.render.targets_page import reproduce, targets_page, versions_text

if TYPE_CHECKING:  # rule_extras imports this module
    from atc.render.rule_extras import RelatedIndex

RULES_DIR = "Detection_Rules"
DATA_NEEDED_DIR = "Data_Needed"
POLICIES_DIR = "Logging_Policies"
TRIGGERS_DIR = "Triggers"


class PageRenderer:
    """Holds the jinja2 environment and the knowledge base's link targets."""

    def __init__(self, kb: KnowledgeBase, targets: list[Target], templates_dir: Path, edit_urls: dict[str, str] | None = None) -> None:
        self.kb = kb
        self.targets = targets
        self.edit_urls = edit_urls or {}  # rule slug -> "edit this rule" URL
        self.memo: PageMemo | None = None  # set by the build: rule pages remembered across builds
        self.version = f"v{kb.attack.version}"
        self.env = template_environment(templates_dir)
        self.env.filters.update(
            code_span=code_text,
            tactic_item=self.tactic_item,
            technique_item=self.technique_item,
            data_needed_item=self.data_needed_item,
            logging_policy_item=self.logging_policy_item,
            trigger_item=self.trigger_item,
            rule_link=self.rule_link,
            reproduce=reproduce,
            versions=versions_text,
        )

    # --- link filters ----------------------------------------------------------------------

    def tactic_item(self, ref: TacticRef) -> Markup:
        if ref.tactic is None:
            return Markup(f"{md_text(ref.tag)} (unknown to ATT&amp;CK {md_text(self.version)})")
        return Markup(f"[{ref.tactic.id}: {md_text(ref.tactic.name)}]({tactic_url(ref.tactic.id)})")

    def _technique_link(self, tid: str, name: str | None) -> str:
        label = f"{tid}: {md_text(name)}" if name else tid
        return f"[{label}]({technique_url(tid)})"

    def technique_item(self, ref: TechniqueRef) -> Markup:
        name = ref.technique.name if ref.technique else None
        link = self._technique_link(ref.tag_id, name)
        if ref.status == "revoked" and ref.current is not None:
            now = self._technique_link(ref.current.id, ref.current.name)
            return Markup(f"{link} (revoked in ATT&amp;CK {md_text(self.version)}, now {now})")
        if ref.status == "revoked":
            return Markup(f"{link} (revoked in ATT&amp;CK {md_text(self.version)})")
        if ref.status == "deprecated":
            return Markup(f"{link} (deprecated in ATT&amp;CK {md_text(self.version)})")
        if ref.status == "unknown":
            return Markup(f"{link} (unknown to ATT&amp;CK {md_text(self.version)})")
        return Markup(link)

    def data_needed_item(self, item_id: str, prefix: str = f"../{DATA_NEEDED_DIR}/") -> Markup:
        return Markup(f"[{md_text(item_id)}]({prefix}{safe_slug(item_id)}.md)")

    def logging_policy_item(self, policy_id: str, prefix: str = f"../{POLICIES_DIR}/") -> Markup:
        if policy_id not in self.kb.logging_policies:
            return Markup(f"{md_text(policy_id)} (no such logging policy in this knowledge base)")
        return Markup(f"[{md_text(policy_id)}]({prefix}{safe_slug(policy_id)}.md)")

    def trigger_item(self, ref: TriggerRef) -> Markup:
        """A rule's trigger link, noting when only some tests apply and when it comes from a tagged parent."""
        name = self.technique_name(ref.technique_id)
        trigger = self.kb.triggers.get(ref.technique_id)
        total = len(trigger.tests) if trigger else len(ref.test_guids)
        notes = ([f"{len(ref.test_guids)} of {total} tests apply"] if len(ref.test_guids) < total else []) + (
            ["sub-technique of a tagged technique"] if ref.via_parent else []
        )
        note = f" ({'; '.join(notes)})" if notes else ""
        return Markup(f"[{ref.technique_id}: {md_text(name)}](../{TRIGGERS_DIR}/{safe_slug(ref.technique_id)}.md){note}")

    def rule_link(self, rule: Rule, prefix: str) -> Markup:
        return Markup(f"[{md_text(rule.title)}]({prefix}{rule.slug}.md)")

    def technique_name(self, tid: str) -> str:
        technique = self.kb.attack.techniques.get(tid)
        if technique is not None:
            return technique.name
        trigger = self.kb.triggers.get(tid)
        return trigger.display_name if trigger else tid

    # --- pages -------------------------------------------------------------------------------

    def render(self, template: str, **context: object) -> str:
        return self.env.get_template(template).render(**context)

    def rule_context(self, rule: Rule, related: RelatedIndex) -> dict[str, object]:
        """What rule.md.j2 is rendered with for one rule."""
        return dict(rule=rule, targets=self.targets, related=related.related(rule), edit_url=self.edit_urls.get(rule.slug))

    def pages(self, site_name: str, site_url: str | None = None) -> dict[str, str]:
        """Every generated page, keyed by its path relative to docs/."""
        kb = self.kb
        rules_by_dn: dict[str, list[Rule]] = defaultdict(list)
        rules_by_trigger: dict[str, list[Rule]] = defaultdict(list)
        for rule in kb.rules:
            for item_id in rule.data_needed:
                rules_by_dn[item_id].append(rule)
            for ref in rule.triggers:
                rules_by_trigger[ref.technique_id].append(rule)
        from atc.render.rule_extras import RelatedIndex  # imported here: it imports attack_pages, which imports this module

        related = RelatedIndex(kb)
        pages: dict[str, str] = {}
        for rule in kb.rules:
            path = f"{RULES_DIR}/{rule.slug}.md"
            context = self.rule_context(rule, related)
            pages[path] = self.memo.render(path, "rule.md.j2", context) if self.memo else self.render("rule.md.j2", **context)
        for item in kb.data_needed.values():
            pages[f"{DATA_NEEDED_DIR}/{safe_slug(item.id)}.md"] = self.render("data_needed.md.j2", item=item, rules=rules_by_dn[item.id])
        for policy in kb.logging_policies.values():
            enabled = [item for item in kb.data_needed.values() if policy.id in item.logging_policies]
            behind = sorted({rule.slug: rule for item in enabled for rule in rules_by_dn[item.id]}.values(), key=lambda r: r.slug)
            pages[f"{POLICIES_DIR}/{safe_slug(policy.id)}.md"] = self.render("logging_policy.md.j2", policy=policy, data_needed=enabled, rules=behind)
        for trigger in kb.triggers.values():
            pages[f"{TRIGGERS_DIR}/{safe_slug(trigger.technique_id)}.md"] = self.render(
                "trigger.md.j2",
                trigger=trigger,
                name=self.technique_name(trigger.technique_id),
                technique_url=technique_url(trigger.technique_id),
                rules=rules_by_trigger[trigger.technique_id],
            )
        pages.update(self.index_pages(site_name, rules_by_dn, rules_by_trigger))
        pages.update(targets_page(self))
        pages.update(rule_index_pages(self))
        from atc.render.attack_pages import attack_pages  # imported here: both modules import this one
        from atc.render.exports import exports
        from atc.site.assets import site_assets

        pages.update(attack_pages(self, site_url))
        pages.update(exports(self.kb, self.targets))
        pages.update(site_assets())
        return pages

    def index_pages(self, site_name: str, rules_by_dn: dict[str, list[Rule]], rules_by_trigger: dict[str, list[Rule]]) -> dict[str, str]:
        kb = self.kb
        covered = {ref.current.id if ref.current else ref.tag_id for rule in kb.rules for ref in rule.techniques if ref.status != "unknown"}
        return {
            "index.md": self.render(
                "home.md.j2",
                site_name=site_name,
                rules=kb.rules,
                technique_count=len(covered),
                data_needed=kb.data_needed,
                logging_policies=kb.logging_policies,
                triggers=kb.triggers,
                targets=self.targets,
                attack_version=kb.attack.version,
                attack_source=kb.attack.source,
            ),
            f"{RULES_DIR}/index.md": self.render("rules_index.md.j2", rules=sorted(kb.rules, key=lambda r: (r.title.lower(), r.slug))),
            f"{DATA_NEEDED_DIR}/index.md": self.render(
                "data_needed_index.md.j2", items=list(kb.data_needed.values()), rule_counts={k: len(rules_by_dn[k]) for k in kb.data_needed},
                unserved=sum(1 for rule in kb.rules if not rule.data_needed),
            ),
            f"{DATA_NEEDED_DIR}/gaps.md": self.render(
                "gaps.md.j2", groups=gap_groups(kb.rules), total=len(kb.rules)
            ),
            f"{POLICIES_DIR}/index.md": self.render("logging_policies_index.md.j2", policies=list(kb.logging_policies.values())),
            f"{TRIGGERS_DIR}/index.md": self.render(
                "triggers_index.md.j2",
                triggers=list(kb.triggers.values()),
                names={tid: self.technique_name(tid) for tid in kb.triggers},
                rule_counts={tid: len(rules_by_trigger[tid]) for tid in kb.triggers},
            ),
        }
