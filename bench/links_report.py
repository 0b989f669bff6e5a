"""Link a Sigma rule corpus to Data Needed and Atomic Red Team triggers and print the statistics and a sample to check.

.venv/bin/python bench/links_report.py ../shared/corpora > /tmp/links.txt
"""

from __future__ import annotations

import random
import statistics
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from atc.link import link
from atc.load.knowledge_base import load_knowledge_base
from atc.model import DataNeeded, KnowledgeBase, Rule, RuleSummary
from atc.render.gaps import gap_groups
from atc.settings import Settings, default_settings

SEED = 20  # the sample is drawn with this seed, so the hand-checked links can be found again
SAMPLE = 20
TOP_GAPS = 10


def corpora_settings(root: Path, triggers: bool = True) -> Settings:
    """The corpora as a knowledge base: SigmaHQ's rules, ATC's Data Needed and logging policies, Atomic Red Team's atomics."""
    return replace(
        default_settings(root),
        rules=(root / "sigma" / "rules",),
        data_needed=(root / "atc-data" / "data_needed",),
        logging_policies=(root / "atc-data" / "logging_policies",),
        triggers=(root / "atomic-red-team" / "atomics",) if triggers else (),
    )


def load_corpora(root: Path) -> KnowledgeBase:
    """The corpora's rules, Data Needed, logging policies and atomics, loaded and linked as `atc build` does."""
    kb = load_knowledge_base(corpora_settings(root), remember=False)
    link(kb)
    return kb


def print_statistics(kb: KnowledgeBase) -> None:
    """Counts of rules with Data Needed and triggers, the per-rule distribution and the largest gaps."""
    rules = kb.rules
    per_rule = [len(rule.data_needed) for rule in rules]
    linked = sum(1 for n in per_rule if n)
    print(f"rules: {len(rules)}; Data Needed items: {len(kb.data_needed)}; techniques with atomics: {len(kb.triggers)}")
    print(f"rules with >= 1 Data Needed: {linked} ({linked / len(rules):.1%})")
    print(
        f"Data Needed per rule: median {statistics.median(per_rule)}, max {max(per_rule)}; "
        f"among linked rules median {statistics.median([n for n in per_rule if n])}"
    )
    for count, rules_with in sorted(Counter(per_rule).items()):
        print(f"  {count} item(s): {rules_with} rules")
    with_trigger = [rule for rule in rules if rule.triggers]
    via_parent = sum(1 for rule in with_trigger if any(ref.via_parent for ref in rule.triggers))
    print(
        f"rules with >= 1 trigger: {len(with_trigger)} ({len(with_trigger) / len(rules):.1%}); "
        f"{via_parent} of them list a sub-technique's tests via a tagged parent"
    )
    print(f"\ngaps: {len(rules) - linked} rules without Data Needed, top {TOP_GAPS} log sources")
    for group in gap_groups([RuleSummary.of(rule) for rule in rules])[:TOP_GAPS]:
        print(f"  {group.count:4d}  {group.logsource}  ({group.reasons[0].reason})")
    reasons = Counter(gap_kind(rule.data_needed_gap or "") for rule in rules if not rule.data_needed)
    print("gap reasons: " + "; ".join(f"{reason}: {count}" for reason, count in reasons.most_common()))


def gap_kind(reason: str) -> str:
    """Which filter left a rule without Data Needed, from its gap reason."""
    kinds = (
        ("has no log source", "no log source"),
        (" lists EventID ", "no item lists the EventID"),
        (" carries all of the fields ", "no item carries the fields"),
        (" fit; ", "too many items fit"),
    )
    return next((kind for marker, kind in kinds if marker in reason), "no item for the log source")


def describe_rule(rule: Rule) -> str:
    """The facts of a rule a reviewer needs to judge a link."""
    detection = rule.data.get("detection", {})
    condition = detection.get("condition") if isinstance(detection, dict) else None
    return (
        f"rule {rule.path.name}: {rule.logsource.describe()}; EventID {rule.event_ids or '-'}; "
        f"condition {condition!r}; fields {', '.join(rule.fields)}"
    )


def describe_item(item: DataNeeded) -> str:
    """The facts of a Data Needed item a reviewer needs to judge a link."""
    return (
        f"item {item.id}: {item.logsource.describe()}; channel {item.channel}; EventID {item.event_ids or '-'}; "
        f"fields {', '.join(item.fields)}"
    )


def print_sample(kb: KnowledgeBase) -> None:
    """SAMPLE rule -> Data Needed links drawn at random (fixed seed), with both sides' facts."""
    links = [(rule, item_id) for rule in kb.rules for item_id in rule.data_needed]
    print(f"\n{SAMPLE} of the {len(links)} rule -> Data Needed links (seed {SEED})")
    for number, (rule, item_id) in enumerate(random.Random(SEED).sample(links, SAMPLE), 1):
        print(f"\n{number:2d}. {describe_rule(rule)}\n    {describe_item(kb.data_needed[item_id])}")


def main(argv: list[str]) -> int:
    """Print the report for the corpora folder given (default ../shared/corpora)."""
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "corpora"
    kb = load_corpora(root)
    print_statistics(kb)
    print_sample(kb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
