"""ATT&CK figures over a rule corpus: techniques covered, revoked/deprecated/unknown tags, and the time ATT&CK work takes.

Usage: python bench/attack_report.py [RULES_DIR ...]   (default: ../shared/corpora/sigma/rules)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from atc.link.attack import resolve_tags
from atc.load.attack import load_snapshot
from atc.load.rules import load_rules
from atc.settings import REPO_ROOT


def main(argv: list[str]) -> int:
    dirs = [Path(arg) for arg in argv] or [REPO_ROOT.parent / "shared" / "corpora" / "sigma" / "rules"]
    rules = load_rules(dirs, [])
    load_times, resolve_times = [], []
    for _ in range(5):
        started = time.perf_counter()
        snapshot = load_snapshot()
        load_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        resolved = [resolve_tags(rule.tags, snapshot) for rule in rules]
        resolve_times.append(time.perf_counter() - started)
    statuses: Counter[str] = Counter()
    distinct: dict[str, set[str]] = {"revoked": set(), "deprecated": set(), "unknown": set()}
    covered: set[str] = set()
    unknown_tactics: Counter[str] = Counter()
    for tactics, techniques in resolved:
        for ref in techniques:
            statuses[ref.status] += 1
            if ref.status in distinct:
                distinct[ref.status].add(ref.tag_id)
            if ref.status != "unknown":
                covered.add(ref.current.id if ref.current else ref.tag_id)
        unknown_tactics.update(t.tag for t in tactics if t.tactic is None)
    current = [t for t in snapshot.techniques.values() if not t.revoked and not t.deprecated]
    print(f"rules: {len(rules)} from {', '.join(map(str, dirs))}; ATT&CK {snapshot.version} ({snapshot.source})")
    print(f"techniques covered: {len(covered)} of {len(current)} current techniques and sub-techniques")
    for status in ("current", "revoked", "deprecated", "unknown"):
        ids = f" ({len(distinct[status])} distinct ids: {', '.join(sorted(distinct[status])[:12])})" if status in distinct else ""
        print(f"technique tags {status}: {statuses[status]}{ids}")
    print(f"unknown tactic tags: {dict(unknown_tactics.most_common())}")
    print(
        f"time: snapshot load median {statistics.median(load_times) * 1000:.1f} ms, "
        f"tag resolution for all rules median {statistics.median(resolve_times) * 1000:.1f} ms (5 runs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
