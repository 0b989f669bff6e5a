"""Which rules each of the team's environments can run, which it is blind to and what would unlock them.

A rule runs in an environment when the environment collects what the rule reads:
- one of the rule's Data Needed items is collected: listed under `data_needed`, or produced by logging policies
  that are all listed under `logging_policies` (an item without a policy needs to be listed itself); or
- one of the rule's ATT&CK data components is listed under `data_components`; or
- the rule's Sigma log source is covered by one under `log_sources` (each part the entry sets is equal).
Otherwise it is blind there, and the reason names what is missing. Missing Data Needed items, logging policies and
data components are ranked by how many blind rules each would unlock on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace

from atc.model import DataNeeded, Environment, KnowledgeBase, LogSource, Problem, RuleSummary

CONFIG_FILE = "atc.yml"


@dataclass(frozen=True)
class Verdict:
    """Whether a rule runs in an environment, on what, or why not."""

    environment: str
    runs: bool
    via: tuple[str, ...] = ()  # what it runs on: Data Needed ids, data component ids or a log source
    reason: str = ""  # when blind: what is missing


@dataclass(frozen=True)
class Unlock:
    """Something an environment could collect, and the blind rules it would make runnable."""

    kind: str  # "Data Needed", "logging policy" or "data component"
    id: str
    rules: int


def _covers(collected: LogSource, rule: LogSource) -> bool:
    """Whether a collected log source covers the rule's: every part it sets is the rule's (case-insensitive)."""
    pairs = ((collected.product, rule.product), (collected.service, rule.service), (collected.category, rule.category))
    return all(mine is None or mine.lower() == (theirs or "").lower() for mine, theirs in pairs)


class EnvironmentView:
    """One environment judged against the knowledge base's Data Needed items."""

    def __init__(self, environment: Environment, items: dict[str, DataNeeded], policies: Collection[str]) -> None:
        self.environment = environment
        self.items = items
        self.known = set(policies)  # the logging policies the knowledge base holds: only those can be switched on
        self.data_needed = set(environment.data_needed)
        self.policies = set(environment.logging_policies)
        self.components = set(environment.data_components)

    def collects(self, item_id: str) -> bool:
        """Whether the environment collects a Data Needed item (listed, or all its logging policies are on)."""
        if item_id in self.data_needed:
            return True
        item = self.items.get(item_id)
        return bool(item and item.logging_policies and set(item.logging_policies) <= self.policies)

    def verdict(self, rule: RuleSummary) -> Verdict:
        """Whether the rule runs here, and on what or why not."""
        name = self.environment.name
        via = tuple(item for item in rule.data_needed if self.collects(item))
        via += tuple(dc for dc in rule.data_components if dc in self.components)
        via += tuple(source.describe() for source in self.environment.log_sources if _covers(source, rule.logsource))
        if via:
            return Verdict(name, True, tuple(dict.fromkeys(via)))
        return Verdict(name, False, reason=self.reason(rule))

    def runs(self, rule: RuleSummary) -> bool:
        """Whether the rule runs here (its verdict's `runs`, without working out on what or why not)."""
        return (
            any(self.collects(item) for item in rule.data_needed)
            or any(dc in self.components for dc in rule.data_components)
            or any(_covers(source, rule.logsource) for source in self.environment.log_sources)
        )

    def reason(self, rule: RuleSummary) -> str:
        """What a blind rule is missing here, in one line."""
        if rule.data_needed:
            options = []
            for item_id in rule.data_needed:
                off = [p for p in (self.items[item_id].logging_policies if item_id in self.items else []) if p not in self.policies]
                unknown = [p for p in off if p not in self.known]
                notes = [f"logging policy {', '.join(p for p in off if p in self.known)} off"] if len(unknown) < len(off) else []
                notes += [f"logging policy {', '.join(unknown)} not in the knowledge base"] if unknown else []
                options.append(f"{item_id} ({'; '.join(notes)})" if notes else item_id)
            options += [f"data component {dc}" for dc in rule.data_components]  # collecting one of them runs it too
            return "not collected: " + " or ".join(options)
        if rule.data_components:
            return "no Data Needed item; not collected: data component " + " or ".join(rule.data_components)
        return f"no Data Needed item or data component; not collected: log source {rule.logsource.describe()}"

    def unlocks(self, blind: list[RuleSummary]) -> list[Unlock]:
        """What would unlock the most blind rules: each missing Data Needed item, logging policy and data component."""
        items: Counter[str] = Counter(item for rule in blind for item in rule.data_needed)
        policies: Counter[str] = Counter()
        named = {p for rule in blind for item in rule.data_needed if item in self.items for p in self.items[item].logging_policies}
        candidates = (named & self.known) - self.policies  # a policy the knowledge base lacks cannot be switched on
        for policy in sorted(candidates):  # a policy can only unlock the rules reading an item it produces
            more = EnvironmentView(
                replace(self.environment, logging_policies=(*self.environment.logging_policies, policy)), self.items, self.known
            )
            reading = (rule for rule in blind if any(policy in self.items[i].logging_policies for i in rule.data_needed if i in self.items))
            policies[policy] = sum(1 for rule in reading if more.runs(rule))
        components: Counter[str] = Counter(dc for rule in blind for dc in dict.fromkeys(rule.data_components))
        found = [Unlock("Data Needed", k, n) for k, n in items.items()] + [Unlock("logging policy", k, n) for k, n in policies.items() if n]
        found += [Unlock("data component", k, n) for k, n in components.items()]
        return sorted(found, key=lambda unlock: (-unlock.rules, unlock.kind, unlock.id))


def verdicts(rule: RuleSummary, views: list[EnvironmentView]) -> list[Verdict]:
    """The rule's verdict in every environment, in configuration order."""
    return [view.verdict(rule) for view in views]


def link_kind(kb: KnowledgeBase) -> None:
    """The environment kind's linker: what the environments name that the knowledge base does not know is a problem."""
    kb.problems += environment_problems(kb)


def environment_problems(kb: KnowledgeBase) -> list[Problem]:
    """Environments naming Data Needed items, logging policies or data components the knowledge base does not know."""
    problems = []
    for environment in kb.environments:
        known = (
            ("Data Needed item", environment.data_needed, kb.data_needed),
            ("logging policy", environment.logging_policies, kb.logging_policies),
            ("data component", environment.data_components, kb.attack.data_components),
        )
        for kind, ids, where in known:
            for unknown in (i for i in ids if i not in where):
                problems.append(
                    Problem(
                        CONFIG_FILE,
                        "environment",
                        f"environment {environment.name!r}: {kind} {unknown} is not in the knowledge base",
                        severity="warning",
                    )
                )
    return problems
