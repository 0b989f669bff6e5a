"""`atc verify`: run the rules' grep, SQLite and simulated PowerShell queries on events and report which pass."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from atc.commands.options import add_settings_options, settings_from_args
from atc.verify.runners import VERIFIABLE, VerifyError

VERIFY_EPILOG = """\
settings: --rules, --events and --targets default to those of atc.yml (--config, or
the nearest one up to the repository's top), as `atc build` reads them; without an atc.yml, --events is ./events
when --rules is given (as for `atc build`), else the embedded knowledge base is verified.
Rules whose regression_tests_path (SigmaHQ's layout) resolves are also checked on the
events their info.yml names, against its match_count.

events layout: EVENTS/<rule id>/positive/*.json and EVENTS/<rule id>/negative/*.json,
one JSON event per file (EVTX-to-JSON Windows events, or any JSON record such as
CloudTrail or auditd; see atc/verify/runners.py for how they are flattened). Positive events
must match the rule's query and negative ones must not; grep runs as a real
`grep -P` process, SQLite in an in-memory database.

exit status: 0 every verified query passed; 1 a query failed or an event file was refused;
2 unusable input (a rule file that cannot be read or a rule id used twice: listed as
BAD RULE after the table, every other rule is still verified).
"""


def register(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser(
        "verify",
        help="run the grep and SQLite queries of rules over example events and report which pass",
        description="Convert every rule for the runnable targets and check each query on the rule's positive and "
        "negative example events; print a per-target table and every failure.",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_options(verify, "verify")


def run(args: argparse.Namespace) -> int:
    """Print the verification table; 2 when a rule was unusable, else 1 when any query failed (on example events or
    regression tests) or an event file was refused."""
    from atc.engine import verify
    from atc.settings import REPO_ROOT
    from atc.verify.runners import SIMULATED

    settings = settings_from_args(args, Path.cwd(), defaults=None if args.rules else REPO_ROOT, check=False)  # --rules: here, as build
    events = settings.events if "events" in settings.given or (settings.events and settings.events.is_dir()) else None
    runnable = VERIFIABLE + SIMULATED
    configured = [t for t in settings.targets or () if t in runnable]
    targets = settings.targets if args.targets else tuple(configured or VERIFIABLE)
    jobs = settings.jobs if "jobs" in settings.given else 1
    try:
        report = verify(replace(settings, jobs=jobs), targets, events)
    except VerifyError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    if events is None:  # the table's "no events" column counts every rule: say why
        print(f"atc verify: no events folder ({settings.events or 'events'}): no example events to check the queries on", file=sys.stderr)
    if report.bad_rules:
        return 2
    return 1 if report.failures or report.evidence_failures or report.bad_events else 0
