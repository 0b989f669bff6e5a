"""Conversions do not depend on import order, target order, process count or what a shared cache saw before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sigma.rule import SigmaRule

from atc.convert.plugins import PluginError, backend_class, pipeline, pipeline_module, resolve_pipelines
from atc.settings import REPO_ROOT
from tests.conftest import CORPORA, needs_corpora

SIGMA_RULES = CORPORA / "sigma" / "rules"
# Run in a fresh interpreter: pre-import some modules, convert rules for targets in a given order, print JSON.
CONVERT = """
import importlib, json, sys
args = json.loads(sys.argv[1])
for module in args["preimport"]:
    importlib.import_module(module)
from pathlib import Path
from atc.convert.cache import ConversionCache
from atc.convert.runner import convert_rules
from atc.convert.targets import select_targets
from atc.load.rules import load_rules
rules = load_rules([Path(p) for p in args["rules"]], [])
cache = ConversionCache(Path(args["cache"])) if args["cache"] else None
convert_rules(rules, select_targets(args["targets"]), args["jobs"], cache=cache)
out = {str(r.path): {k: [c.status, c.query, c.error] for k, c in sorted(r.conversions.items())} for r in rules}
print(json.dumps(out, sort_keys=True))
"""
# Decorated with pySigma's shared @Pipeline after sysmon: calling `sysmon_pipeline()` then returns this test pipeline.
LATER_DECORATED = ["sigma.pipelines.sysmon", "sigma.pipelines.test.pipeline"]


def _convert(rules: list[Path], targets: list[str], preimport: list[str] = (), cache: Path | None = None, jobs: int = 1) -> dict:
    args = {
        "rules": [str(p) for p in rules],
        "targets": targets,
        "preimport": list(preimport),
        "cache": str(cache) if cache else "",
        "jobs": jobs,
    }
    run = subprocess.run([sys.executable, "-c", CONVERT, json.dumps(args)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_the_trap_is_real_the_decorated_sysmon_pipeline_depends_on_import_order() -> None:
    """Why pipelines are resolved by name: after another @Pipeline function, pySigma's sysmon_pipeline() is that one."""
    code = "import sigma.pipelines.sysmon as s, sigma.pipelines.test.pipeline; print(s.sysmon_pipeline().name)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "Test pipeline"


def test_registry_resolves_sysmon_by_its_own_code_whatever_was_decorated_last() -> None:
    import sigma.pipelines.test.pipeline  # noqa: F401  (the later @Pipeline function)

    resolved = pipeline("sysmon")
    assert resolved.name == "Generic Log Sources to Sysmon Transformation"
    assert pipeline_module("sysmon") == "sigma.pipelines.sysmon.sysmon"
    assert pipeline("sysmon") is not resolved  # a fresh copy each time: backends may not share pipeline state


def test_registry_resolves_backends_by_identifier_or_path_and_files_as_pipelines(tmp_path: Path) -> None:
    assert backend_class("splunk").__name__ == "SplunkBackend"
    assert backend_class("atc_grep") is backend_class("atc.convert.backends:GrepBackend")
    with pytest.raises(PluginError, match="not installed"):
        backend_class("no_such_backend")
    file = tmp_path / "rename.yml"
    file.write_text(
        "name: rename\npriority: 5\ntransformations:\n  - type: field_name_mapping\n    mapping:\n      CommandLine: team.cmd\n"
    )
    rule = SigmaRule.from_dict(
        {
            "title": "t",
            "logsource": {"product": "windows", "category": "process_creation"},
            "detection": {"sel": {"CommandLine": "x", "Image": "y"}, "condition": "sel"},
        }
    )
    backend = backend_class("lucene")(processing_pipeline=resolve_pipelines([str(file), "ecs_windows"], backend="lucene"))
    assert backend.convert_rule(rule) == ["team.cmd:x AND process.executable.caseless:y"]  # the file ran first (priority 5)
    with pytest.raises(PluginError, match="neither installed nor a readable file"):
        resolve_pipelines(["no_such_pipeline"])
    with pytest.raises(PluginError):
        resolve_pipelines(["splunk_windows"], backend="lucene")


def test_import_order_target_order_and_processes_give_identical_conversions(tmp_path: Path) -> None:
    rules = [REPO_ROOT / "rules"]
    targets = ["powershell", "es-qs", "splunk", "grep", "sqlite", "kusto"]
    plain = _convert(rules, targets)
    hostile = _convert(rules, list(reversed(targets)), preimport=LATER_DECORATED)
    parallel = _convert(rules, targets, preimport=["atc.convert.backends", *LATER_DECORATED], jobs=2)
    assert plain == hostile == parallel
    process_creation = [c for path, c in plain.items() if "windows/process_creation" in path]
    assert process_creation and all(c["powershell"][0] == "ok" and "Sysmon" in c["powershell"][1] for c in process_creation)


@needs_corpora()
def test_a_shared_cache_gives_what_a_fresh_cache_gives_on_sigmahq_rules(tmp_path: Path) -> None:
    """The audit's case: the default knowledge base first (hostile import order), then SigmaHQ rules with that cache."""
    sample = (
        sorted((SIGMA_RULES / "windows" / "process_creation").glob("*.yml"))[:120]
        + sorted((SIGMA_RULES / "windows" / "powershell").rglob("*.yml"))[:40]
    )
    targets = ["powershell", "kusto", "es-qs"]
    shared = tmp_path / "shared-cache"
    _convert([REPO_ROOT / "rules"], targets, preimport=LATER_DECORATED, cache=shared)
    warm = _convert(sample, targets, preimport=LATER_DECORATED, cache=shared, jobs=2)
    warm_again = _convert(sample, list(reversed(targets)), cache=shared)
    fresh = _convert(sample, targets, cache=tmp_path / "fresh-cache")
    assert warm == warm_again == fresh
    failures = [path for path, c in fresh.items() if "no Windows event log channel" in (c["powershell"][2] or "")]
    assert not failures


def test_the_cache_key_covers_every_pysigma_version_the_converting_code_and_pipeline_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from atc.convert import cache as cache_module
    from atc.convert.targets import BY_KEY

    pipeline_file = tmp_path / "team.yml"
    pipeline_file.write_text("name: team\npriority: 30\ntransformations: []\n")
    target = replace(BY_KEY["powershell"], pipelines=(str(pipeline_file),))  # its sysmon pipeline comes from another distribution

    def fingerprint() -> str:
        return cache_module.ConversionCache(tmp_path / "cache").fingerprints([target])[target]

    first = fingerprint()
    assert fingerprint() == first
    pipeline_file.write_text("name: team\npriority: 30\ntransformations: [{type: field_name_mapping, mapping: {a: b}}]\n")
    assert fingerprint() != first
    second = fingerprint()
    versions = dict(cache_module.sigma_distributions())
    monkeypatch.setattr(
        cache_module, "sigma_distributions", lambda: {**versions, "pysigma-pipeline-sysmon": "9.9.9"}
    )  # an upgrade of the sysmon pipeline alone
    assert fingerprint() != second
    monkeypatch.undo()
    monkeypatch.setattr(cache_module, "converter_version", lambda: "edited")
    assert fingerprint() != second
