"""Figures for issue 14: feature-case scores, PowerShell with a shared and a fresh cache, kusto on SigmaHQ rules/, evidence.

Run from the repository root: .venv/bin/python bench/query_figures.py (needs ../shared/corpora for the SigmaHQ figures).
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGMA_RULES = ROOT.parent / "shared" / "corpora" / "sigma" / "rules"
# One process per corpus and cache, the knowledge base first with the import order that broke PowerShell before.
CONVERT = """
import json, sys
import sigma.pipelines.sysmon, sigma.pipelines.test.pipeline  # a later @Pipeline function, as under pytest
from pathlib import Path
from atc.convert.cache import ConversionCache
from atc.convert.runner import convert_rules
from atc.convert.targets import select_targets
from atc.load.rules import load_rules
rules = load_rules([Path(sys.argv[1])], [])
cache = ConversionCache(Path(sys.argv[2]))
convert_rules(rules, select_targets([sys.argv[3]]), 2, cache=cache)
print(json.dumps({str(r.path): [r.conversions[sys.argv[3]].status, r.conversions[sys.argv[3]].error] for r in rules}))
"""


def convert(rules: Path, cache: Path, target: str) -> dict[str, list]:
    run = subprocess.run(
        [sys.executable, "-c", CONVERT, str(rules), str(cache), target], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(run.stdout)


def feature_scores() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.feature_cases import CASES
    from tests.test_feature_cases import KNOWN_WRONG, verdicts

    lines = ["| target | cases | exact | refused or not checkable (expected) | known wrong |", "|---|---:|---:|---:|---:|"]
    for target in ("grep", "sqlite", "powershell"):
        exact = refused = wrong = 0
        for case in CASES:
            status, matched, expected = verdicts(case, target)
            if target in case.refused_by:
                refused += status.startswith("refused")
            elif status == "ok" and matched == expected:
                exact += 1
            else:
                wrong += 1
        known = sum(t == target for _, t in KNOWN_WRONG)
        lines.append(f"| {target} | {len(CASES)} | {exact} | {refused} | {wrong} (listed: {known}) |")
    return lines


def powershell_figures() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        shared = Path(folder) / "shared"
        convert(ROOT / "rules", shared, "powershell")
        warm = convert(SIGMA_RULES, shared, "powershell")
        fresh = convert(SIGMA_RULES, Path(folder) / "fresh", "powershell")

    def count(found: dict) -> tuple[int, int]:
        failed = [e for s, e in found.values() if s != "ok"]
        return len(failed), sum("no Windows event log channel for product=windows category=process_creation" in (e or "") for e in failed)

    (warm_failed, warm_pc), (fresh_failed, fresh_pc) = count(warm), count(fresh)
    return [
        f"- PowerShell on SigmaHQ `rules/` ({len(fresh)} rules): shared cache (default knowledge base converted first, "
        f"hostile import order) {warm_failed} not convertible ({warm_pc} of them Windows process_creation 'no channel'); "
        f"fresh cache {fresh_failed} ({fresh_pc}); identical results: {warm == fresh} (all but 15 are not Windows log sources)",
    ]


def kusto_figures() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        found = convert(SIGMA_RULES, Path(folder), "kusto")
        seconds = time.perf_counter() - started
    failed = {path: error for path, (status, error) in found.items() if status != "ok"}
    windows = [p for p in found if "/windows/" in p]
    reasons = collections.Counter(
        "no table" if "maps the log source" in e else "fields" if "converts the log source" in e else e[:60] for e in failed.values()
    )
    return [
        f"- kusto on SigmaHQ `rules/`: {len(failed)} of {len(found)} not convertible ({len(failed) * 100 // len(found)} %), "
        f"Windows {sum(p in failed for p in windows)} of {len(windows)}; reasons {dict(reasons)}; {seconds:.0f} s with 2 processes",
    ]


def evidence_figures() -> list[str]:
    from atc.engine import run_build
    from atc.settings import default_settings

    fixture = ROOT / "tests" / "fixtures" / "regression"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        settings = replace(
            default_settings(),
            rules=(fixture / "rules",),
            docs_dir=out / "docs",
            site_dir=out / "site",
            cache_dir=out / "cache",
            build_site=False,
            jobs=1,
            base_dir=fixture,
            events=None,
        )
        result = run_build(settings, quiet=True)
    evidence = [e for rule in result.kb.rules for e in rule.evidence]
    by_target = {
        t: f"{sum(e.passed for e in evidence if e.target == t)}/{sum(e.target == t for e in evidence)}"
        for t in ("grep", "sqlite", "powershell")
    }
    events = sum(e.events for e in evidence if e.target == "grep")
    return [
        f"- regression evidence on our fixtures: {sum(bool(r.evidence) for r in result.kb.rules)} rules, {events} events; passed per target {by_target}"
    ]


if __name__ == "__main__":
    print("\n".join(feature_scores()))
    print("\n".join(evidence_figures()))
    if SIGMA_RULES.is_dir():
        print("\n".join(powershell_figures()))
        print("\n".join(kusto_figures()))
