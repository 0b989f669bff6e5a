"""SigmaHQ `rules/` with ATC's Data Needed against ATT&CK's detection model: data components, analytics, what to collect.

.venv/bin/python bench/detection_report.py ../shared/corpora > bench/DETECTION.md
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path

from links_report import corpora_settings  # the sibling script: the corpora's folders

from atc.link import link
from atc.load.knowledge_base import load_knowledge_base
from atc.model import KnowledgeBase

TOP = 10
SEED = 17  # the sample of rules shown is drawn with this seed
SAMPLE = 12


def load_corpora(root: Path) -> tuple[KnowledgeBase, float]:
    """SigmaHQ's rules/ with ATC's Data Needed and logging policies, linked as `atc build` does; and the link time."""
    kb = load_knowledge_base(corpora_settings(root, triggers=False), remember=False)
    started = time.perf_counter()
    link(kb)
    return kb, time.perf_counter() - started


def report(kb: KnowledgeBase, seconds: float) -> str:
    """The figures as Markdown."""
    rules = kb.rules
    components = kb.attack.data_components
    with_dc = [r for r in rules if r.data_components]
    with_strategy = [r for r in rules if r.detections]
    implementing = [r for r in rules if any(ref.implements for ref in r.detections)]
    via_dn = sum(1 for r in with_dc if r.data_needed)
    analytics = {an for r in rules for ref in r.detections for an in ref.implements}
    per_component = Counter(dc for r in rules for dc in r.data_components)
    only = Counter(r.data_components[0] for r in rules if len(r.data_components) == 1)
    lines = [
        "# ATT&CK detection model over SigmaHQ `rules/`",
        "",
        f"Command: `.venv/bin/python bench/detection_report.py ../shared/corpora` (ATT&CK {kb.attack.version} snapshot, "
        f"ATC's {len(kb.data_needed)} Data Needed items). Linking every rule (tags, Data Needed, triggers, data components, "
        f"strategies) took {seconds:.2f} s.",
        "",
        "| | rules | share |",
        "|:--|--:|--:|",
        f"| rules | {len(rules)} | 100 % |",
        f"| map to a data component | {len(with_dc)} | {100 * len(with_dc) / len(rules):.1f} % |",
        f"| ... through a Data Needed item | {via_dn} | {100 * via_dn / len(rules):.1f} % |",
        f"| ... through their own log source (no Data Needed matched) | {len(with_dc) - via_dn} | {100 * (len(with_dc) - via_dn) / len(rules):.1f} % |",
        f"| tagged with a technique that has a detection strategy | {len(with_strategy)} | {100 * len(with_strategy) / len(rules):.1f} % |",
        f"| implement an analytic (read one of its log sources on its platform) | {len(implementing)} | {100 * len(implementing) / len(rules):.1f} % |",
        "",
        f"{len(analytics)} distinct analytics of the {len(kb.attack.analytics)} are implemented by at least one rule.",
        "",
        f"## The {TOP} data components that would unlock the most rules",
        "",
        "Collecting the data component makes every rule that reads it runnable (a rule reading several counts for each);",
        '"only this" counts the rules for which it is the only data component.',
        "",
        "| data component | rules | only this |",
        "|:--|--:|--:|",
    ]
    for dc, count in per_component.most_common(TOP):
        lines.append(f"| {dc} {components[dc].name} | {count} | {only[dc]} |")
    lines += ["", "## A sample to check by hand", "", "| rule | data components | strategies |", "|:--|:--|:--|"]
    for rule in sorted(random.Random(SEED).sample(rules, SAMPLE), key=lambda r: r.slug):
        strategies = "; ".join(
            f"{ref.strategy} {'implements ' + ', '.join(ref.implements) if ref.implements else 'other data'}" for ref in rule.detections
        )
        lines.append(f"| {rule.slug} | {', '.join(rule.data_components) or '-'} | {strategies or '-'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/corpora")
    print(report(*load_corpora(root)), end="")


if __name__ == "__main__":
    main()
