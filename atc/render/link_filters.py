"""The jinja2 filters that turn knowledge-base references into Markdown links."""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from atc.link import attack_v19
from atc.link.attack import tactic_url, technique_url
from atc.link.environments import Verdict
from atc.link.tags import tag_url
from atc.model import AttackSnapshot, DetectionRef, KnowledgeBase, Rule, RuleSummary, TacticRef, TechniqueRef, Trigger, TriggerRef
from atc.render import addresses
from atc.render.escape import code_text, md_text


def _href(context: Context, kind: str, key: str, prefix: str | None) -> str:
    """The link to an item's page from the page being rendered (or, given a prefix, the prefix and the page name)."""
    if prefix is not None:
        return f"{prefix}{addresses.slug(kind, key)}.md"
    return addresses.link(context["page"], kind, key)


@pass_context
def link_to(context: Context, kind: str, key: str | None = None) -> str:
    """The link from the page being rendered to an item's page, a kind's index, a named page ("page") or a docs path ("path")."""
    return addresses.link(context["page"], kind, key)


def tag_item(tag: str) -> Markup:
    """A rule's tag as code, linked to the page of what it names when there is one (groups, software, CAR, CVE)."""
    url = tag_url(tag)
    return Markup(f"[{code_text(tag)}]({url})") if url else code_text(tag)


class LinkFilters:
    """Links to tactics, techniques, Data Needed, logging policies, triggers and rules, marked safe after escaping."""

    def __init__(self, kb: KnowledgeBase) -> None:
        # the shared facts only, not the rules: compiled templates keep their environment and its filters alive
        # until a garbage collection, and with them everything the filters hold
        self.logging_policies = kb.logging_policies
        self.triggers = kb.triggers
        self.attack = kb.attack
        self.version = f"v{kb.attack.version}"
        self.environments = {environment.name: environment for environment in kb.environments}

    def tactic_item(self, ref: TacticRef) -> Markup:
        if ref.tactic is None:
            return Markup(f"{md_text(ref.tag)} (unknown to ATT&amp;CK {md_text(self.version)})")
        link = f"[{ref.tactic.id}: {md_text(ref.tactic.name)}]({tactic_url(ref.tactic.id)})"
        if ref.newer:
            return Markup(f"{md_text(ref.tag)}: {md_text(ref.newer)} (ATT&amp;CK v19; in the embedded {md_text(self.version)}: {link})")
        return Markup(link)

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
        if ref.status == "unknown":  # no page to link to: attack.mitre.org has none either
            return Markup(f"{md_text(ref.tag_id)} (unknown to ATT&amp;CK {md_text(self.version)})")
        if ref.status == "newer":
            embedded = ", ".join(self._technique_link(tid, self.technique_name(tid)) for tid in ref.embedded)
            name = attack_v19.TECHNIQUES[ref.tag_id][0] if ref.tag_id in attack_v19.TECHNIQUES else None
            return Markup(f"{self._technique_link(ref.tag_id, name)} (ATT&amp;CK v19; in the embedded {md_text(self.version)}: {embedded})")
        return Markup(link)

    @pass_context
    def data_needed_item(self, context: Context, item_id: str, prefix: str | None = None) -> Markup:
        return Markup(f"[{md_text(item_id)}]({_href(context, 'data_needed', item_id, prefix)})")

    @pass_context
    def logging_policy_item(self, context: Context, policy_id: str, prefix: str | None = None) -> Markup:
        if policy_id not in self.logging_policies:
            return Markup(f"{md_text(policy_id)} (no such logging policy in this knowledge base)")
        return Markup(f"[{md_text(policy_id)}]({_href(context, 'logging_policy', policy_id, prefix)})")

    @pass_context
    def trigger_item(self, context: Context, ref: TriggerRef) -> Markup:
        """A rule's trigger link, noting when only some tests apply and when it comes from a tagged parent."""
        name = self.technique_name(ref.technique_id)
        href = addresses.link(context["page"], "trigger", ref.technique_id)
        if ref.simulation is not None:
            return Markup(
                f"[{md_text(ref.simulation)}]({href}) ({ref.technique_id}: {md_text(name)}; the test the rule's simulation names)"
            )
        trigger = self.triggers.get(ref.technique_id)
        total = len(trigger.tests) if trigger else len(ref.test_guids)
        notes = ([f"{len(ref.test_guids)} of {total} tests apply"] if len(ref.test_guids) < total else []) + (
            ["sub-technique of a tagged technique"] if ref.via_parent else []
        )
        note = f" ({'; '.join(notes)})" if notes else ""
        return Markup(f"[{ref.technique_id}: {md_text(name)}]({href}){note}")

    @pass_context
    def rule_link(self, context: Context, rule: Rule | RuleSummary, prefix: str | None = None) -> Markup:
        return Markup(f"[{md_text(rule.title)}]({_href(context, 'rule', rule.slug, prefix)})")

    @pass_context
    def data_component_item(self, context: Context, component_id: str, prefix: str | None = None) -> Markup:
        """A data component's link with its name; an id the snapshot does not hold (an environment's typo) has no page to link."""
        component = self.attack.data_components.get(component_id)
        if component is None:
            return Markup(f"{md_text(component_id)} (not in ATT&amp;CK {md_text(self.version)})")
        return Markup(f"[{md_text(component_id)}: {md_text(component.name)}]({_href(context, 'data_component', component_id, prefix)})")

    @pass_context
    def detection_item(self, context: Context, ref: DetectionRef, prefix: str | None = None) -> Markup:
        """A rule's detection strategy: which of its analytics the rule implements, or that it reads other data."""
        strategy = self.attack.detection_strategies.get(ref.strategy)
        name = f": {md_text(strategy.name)}" if strategy else ""
        link = f"[{md_text(ref.strategy)}{name}]({_href(context, 'detection_strategy', ref.strategy, prefix)})"
        if not (strategy and strategy.name.endswith(f"({ref.technique})")):  # ATT&CK names many after their technique
            link += f" ({md_text(ref.technique)})"
        if not ref.implements:
            return Markup(f"{link}: same technique, other data")
        analytics = ", ".join(
            f"{md_text(an)} on {md_text(', '.join(self.attack.analytics[an].platforms)) if an in self.attack.analytics else 'its platform'}"
            for an in ref.implements
        )
        return Markup(f"{link}: implements {analytics}")

    @pass_context
    def environment_item(self, context: Context, verdict: Verdict, prefix: str | None = None) -> Markup:
        """Where a rule runs: "runs in X (on ...)" or "blind in Y: what is missing"."""
        environment = self.environments.get(verdict.environment)
        title = environment.title if environment else verdict.environment
        link = f"[{md_text(title)}]({_href(context, 'environment', verdict.environment, prefix)})"
        if verdict.runs:
            return Markup(f"runs in {link} (on {md_text(', '.join(verdict.via))})")
        return Markup(f"blind in {link}: {md_text(verdict.reason)}")

    def technique_name(self, tid: str) -> str:
        return technique_name(self.attack, self.triggers, tid)


def technique_name(attack: AttackSnapshot, triggers: dict[str, Trigger], tid: str) -> str:
    """A technique's name in the snapshot, else its trigger's, else the id."""
    technique = attack.techniques.get(tid)
    if technique is not None:
        return technique.name
    trigger = triggers.get(tid)
    return trigger.display_name if trigger else tid
