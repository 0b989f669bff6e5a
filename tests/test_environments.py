"""Environments (atc.yml `environments:`): which rules each can run, which it is blind to and why, ranked unlocks, layers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atc.engine import BuildResult, run_build
from atc.link.environments import EnvironmentView, Unlock
from atc.link.navigator import validate_layer
from atc.model import DataNeeded, Environment, LogSource, Rule, RuleSummary
from atc.settings import ConfigError, default_settings, load_config_file

CERTUTIL = "proc_creation_win_certutil_remote_download"  # Sysmon process creation, DN_0010
SYSMON_1 = "DN_0010_1_windows_sysmon_process_creation"
CORP = Environment("corp", "Corporate <Windows>", data_needed=(SYSMON_1,), logging_policies=("LP_0001_windows_audit_process_creation",))
LINUX = Environment("dmz", "DMZ Linux", log_sources=(LogSource(product="linux"),), data_components=("DC0999",))


@pytest.fixture(scope="module")
def env_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The default knowledge base built with two environments."""
    out = tmp_path_factory.mktemp("env-build")
    settings = replace(
        default_settings(), docs_dir=out / "docs", site_dir=out / "site", build_site=False, jobs=2, environments=(CORP, LINUX)
    )
    return run_build(settings, quiet=True)


def summary(slug: str, data_needed: tuple[str, ...] = (), components: tuple[str, ...] = (), product: str = "windows") -> RuleSummary:
    rule = Rule(path=Path(f"{slug}.yml"), source_text="", data={}, id=slug, title=slug, slug=slug, logsource=LogSource(product, "security"))
    rule.data_needed, rule.data_components = list(data_needed), list(components)
    return RuleSummary.of(rule)


ITEMS = {
    "DN_a": DataNeeded("DN_a", Path("a.yml"), "a", logging_policies=["LP_x", "LP_y"]),
    "DN_b": DataNeeded("DN_b", Path("b.yml"), "b", logging_policies=["LP_x"]),
    "DN_c": DataNeeded("DN_c", Path("c.yml"), "c"),
}
POLICIES = ("LP_x", "LP_y")


# --- settings ---------------------------------------------------------------------------------------


def test_environments_are_read_from_atc_yml(tmp_path: Path) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(
        "environments:\n"
        "  corp:\n    title: Corporate\n    data_needed: [DN_a]\n    logging_policies: LP_x\n    data_components: [DC0032]\n"
        "    log_sources: [{product: aws, service: cloudtrail}]\n"
        "  lab: {}\n",
        encoding="utf-8",
    )
    corp, lab = load_config_file(config).environments
    assert corp == Environment("corp", "Corporate", ("DN_a",), ("LP_x",), ("DC0032",), (LogSource("aws", "cloudtrail"),))
    assert lab == Environment("lab", "lab")
    assert default_settings().environments == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("environments: [corp]\n", "must map environment names"),
        ("environments:\n  corp: {collects: [x]}\n", "may only set"),
        ("environments:\n  corp: {data_needed: [1]}\n", "must be a list of ids"),
        ("environments:\n  corp: {log_sources: [{product: aws, bogus: x}]}\n", "log_sources"),
        ("environments:\n  ../x y: {}\n", "letters, digits"),
    ],
)
def test_bad_environments_are_refused_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "atc.yml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config_file(config)


# --- verdicts and ranking -------------------------------------------------------------------------------


def test_a_data_needed_item_is_collected_when_listed_or_all_its_policies_are_on() -> None:
    view = EnvironmentView(Environment("e", "e", data_needed=("DN_c",), logging_policies=("LP_x",)), ITEMS, POLICIES)
    assert view.collects("DN_c") and view.collects("DN_b")
    assert not view.collects("DN_a")  # LP_y is off
    assert view.verdict(summary("r", ("DN_a", "DN_b"))).via == ("DN_b",)
    blind = view.verdict(summary("r", ("DN_a",)))
    assert not blind.runs and blind.reason == "not collected: DN_a (logging policy LP_y off)"
    # with neither, listing its log source would run it: the reason says so rather than that nothing serves it
    assert (
        view.verdict(summary("r")).reason
        == "no Data Needed item or data component; not collected: log source product=windows service=security"
    )
    assert view.verdict(summary("r", (), ("DC0032",))).reason == "no Data Needed item; not collected: data component DC0032"


def test_a_policy_the_knowledge_base_lacks_is_named_so_and_never_offered() -> None:
    """ATC's DN_0026 names LP_0025_windows_..., which no file holds: it was "off" and ranked as a policy to switch on."""
    items = ITEMS | {"DN_d": DataNeeded("DN_d", Path("d.yml"), "d", logging_policies=["LP_x", "LP_gone"])}
    view = EnvironmentView(Environment("e", "e"), items, POLICIES)
    blind = [summary("r1", ("DN_d",)), summary("r2", ("DN_d",))]
    assert (
        view.verdict(blind[0]).reason == "not collected: DN_d (logging policy LP_x off; logging policy LP_gone not in the knowledge base)"
    )
    assert [unlock for unlock in view.unlocks(blind) if unlock.kind == "logging policy"] == []
    assert Unlock("Data Needed", "DN_d", 2) in view.unlocks(blind)


def test_a_blind_rules_reason_names_every_kind_of_thing_whose_collection_would_run_it() -> None:
    """A rule with an item and a component: the reason named the item only, while the ranking offered the component too."""
    view = EnvironmentView(Environment("e", "e"), ITEMS, POLICIES)
    rule = summary("r", ("DN_c",), ("DC0032",))
    assert view.verdict(rule).reason == "not collected: DN_c or data component DC0032"
    for unlock in view.unlocks([rule]):
        assert unlock.id in view.verdict(rule).reason


def test_data_components_and_log_sources_make_rules_runnable() -> None:
    view = EnvironmentView(Environment("e", "e", data_components=("DC0032",), log_sources=(LogSource(product="linux"),)), ITEMS, POLICIES)
    assert view.verdict(summary("r", ("DN_a",), ("DC0032",))).via == ("DC0032",)
    assert view.verdict(summary("r", product="Linux")).via == ("product=linux",)
    assert not view.verdict(summary("r", product="windows")).runs


def test_missing_data_is_ranked_by_the_rules_it_would_unlock() -> None:
    view = EnvironmentView(Environment("e", "e"), ITEMS, POLICIES)
    blind = [
        summary("r1", ("DN_a",)),
        summary("r2", ("DN_a", "DN_b")),
        summary("r3", ("DN_b",)),
        summary("r4", ("DN_c",)),
        summary("r5", (), ("DC0032",)),
        summary("r6", ("DN_a",)),
    ]
    assert view.unlocks(blind) == [
        Unlock("Data Needed", "DN_a", 3),
        Unlock("Data Needed", "DN_b", 2),
        Unlock("logging policy", "LP_x", 2),  # turns DN_b on alone; DN_a also needs LP_y
        Unlock("Data Needed", "DN_c", 1),
        Unlock("data component", "DC0032", 1),
    ]
    with_x = EnvironmentView(Environment("e", "e", logging_policies=("LP_x",)), ITEMS, POLICIES)
    assert Unlock("logging policy", "LP_y", 3) in with_x.unlocks(
        [summary("r1", ("DN_a",)), summary("r2", ("DN_a",)), summary("r6", ("DN_a",))]
    )


_ids = st.sampled_from(["DN_a", "DN_b", "DN_c", "DN_gone"])
_rules = st.lists(
    st.builds(
        lambda slug, items, components, product: summary(slug, tuple(items), tuple(components), product),
        st.text("abc", min_size=1, max_size=3),
        st.lists(_ids, max_size=3, unique=True),
        st.lists(st.sampled_from(["DC0032", "DC0001"]), max_size=2, unique=True),
        st.sampled_from(["windows", "linux", "Linux"]),
    ),
    max_size=12,
)
_environments = st.builds(
    lambda items, policies, components, sources: Environment(
        "e", "e", data_needed=tuple(items), logging_policies=tuple(policies), data_components=tuple(components), log_sources=tuple(sources)
    ),
    st.lists(_ids, max_size=2, unique=True),
    st.lists(st.sampled_from(["LP_x", "LP_y"]), max_size=2, unique=True),
    st.lists(st.sampled_from(["DC0032"]), max_size=1),
    st.lists(st.sampled_from([LogSource(product="linux"), LogSource(category="process_creation")]), max_size=1),
)


def _collecting(environment: Environment, unlock: Unlock) -> Environment:
    """The environment with the unlock's item, policy or component added."""
    field = {"Data Needed": "data_needed", "logging policy": "logging_policies", "data component": "data_components"}[unlock.kind]
    return replace(environment, **{field: (*getattr(environment, field), unlock.id)})


def test_a_data_component_unlocks_blind_rules_that_have_data_needed_items_too() -> None:
    """Collecting DC0032 runs every blind rule reading it, those with an uncollected Data Needed item included."""
    view = EnvironmentView(Environment("e", "e"), ITEMS, POLICIES)
    blind = [summary("r1", ("DN_a",), ("DC0032",)), summary("r2", (), ("DC0032",)), summary("r3", ("DN_b",))]
    assert Unlock("data component", "DC0032", 2) in view.unlocks(blind)


@settings(max_examples=200, deadline=None)
@given(_environments, _rules)
def test_every_unlock_counts_the_blind_rules_it_would_run(environment: Environment, rules: list[RuleSummary]) -> None:
    """Each ranked item, policy or component unlocks exactly the blind rules whose verdict turns with it collected."""
    view = EnvironmentView(environment, ITEMS, POLICIES)
    blind = [rule for rule in rules if not view.verdict(rule).runs]
    for unlock in view.unlocks(blind):
        more = EnvironmentView(_collecting(environment, unlock), ITEMS, POLICIES)
        assert unlock.rules == sum(more.verdict(rule).runs for rule in blind) > 0, unlock


@settings(max_examples=200, deadline=None)
@given(_environments, _rules)
def test_runs_and_unlocks_agree_with_the_verdicts(environment: Environment, rules: list[RuleSummary]) -> None:
    """runs() is the verdict's `runs`; a logging policy unlocks exactly the blind rules whose verdict turns with it on."""
    view = EnvironmentView(environment, ITEMS, POLICIES)
    assert [view.runs(rule) for rule in rules] == [view.verdict(rule).runs for rule in rules]
    blind = [rule for rule in rules if not view.verdict(rule).runs]
    for unlock in view.unlocks(blind):
        if unlock.kind == "logging policy":
            more = EnvironmentView(replace(environment, logging_policies=(*environment.logging_policies, unlock.id)), ITEMS, POLICIES)
            assert unlock.rules == sum(more.verdict(rule).runs for rule in blind) > 0
    for policy in {"LP_x", "LP_y"} - set(environment.logging_policies):
        more = EnvironmentView(replace(environment, logging_policies=(*environment.logging_policies, policy)), ITEMS, POLICIES)
        turned = sum(more.verdict(rule).runs for rule in blind)
        listed = [u.rules for u in view.unlocks(blind) if u.kind == "logging policy" and u.id == policy]
        assert listed == ([turned] if turned else [])


# --- the build --------------------------------------------------------------------------------------------


def test_rule_runs_in_one_environment_and_is_blind_in_the_other(env_build: BuildResult) -> None:
    page = env_build.pages[f"Detection_Rules/{CERTUTIL}.md"]
    assert f"runs in [Corporate &lt;Windows&gt;](../Environments/corp.md) (on {SYSMON_1.replace('_', chr(92) + '_')})" in page
    assert "blind in [DMZ Linux](../Environments/dmz.md): not collected: DN\\_0010" in page
    corp = env_build.pages["Environments/corp.md"]
    runs = corp.split("## Rules it can run", 1)[1]
    blind = corp.split("## Blind rules", 1)[1].split("## Rules it can run", 1)[0]
    assert f"({'../Detection_Rules/'}{CERTUTIL}.md)" in runs and CERTUTIL not in blind
    dmz = env_build.pages["Environments/dmz.md"]
    assert f"../Detection_Rules/{CERTUTIL}.md" in dmz.split("## Blind rules", 1)[1].split("## Rules it can run", 1)[0]
    index = env_build.pages["Environments/index.md"]
    assert "[Corporate &lt;Windows&gt;](corp.md)" in index and "[DMZ Linux](dmz.md)" in index


def test_environment_page_ranks_what_would_unlock_the_most(env_build: BuildResult) -> None:
    page = env_build.pages["Environments/corp.md"]
    rows = [
        line
        for line in page.split("## What would unlock the most rules", 1)[1].split("## Blind rules", 1)[0].splitlines()
        if line.startswith("| ") and "---" not in line
    ][1:]
    counts = [int(row.rsplit("|", 2)[1]) for row in rows]
    assert counts and counts == sorted(counts, reverse=True)
    view = EnvironmentView(CORP, env_build.kb.data_needed, env_build.kb.logging_policies)
    blind = [summary for summary in map(RuleSummary.of, env_build.kb.rules) if not view.verdict(summary).runs]
    for row in rows:  # every Data Needed row counts the blind rules that list the item
        if row.startswith("| Data Needed |"):
            item = row.split("](../Data_Needed/", 1)[1].split(".md)", 1)[0]
            assert int(row.rsplit("|", 2)[1]) == sum(item in rule.data_needed for rule in blind)
    assert counts[0] >= max(sum(item in rule.data_needed for rule in blind) for rule_ in blind for item in rule_.data_needed)


def test_environment_layer_scores_only_feasible_rules(env_build: BuildResult) -> None:
    snapshot = env_build.kb.attack
    corp = json.loads(env_build.pages["ATTACK/layers/environment-corp.json"])
    everything = json.loads(env_build.pages["ATTACK/layers/all.json"])
    assert validate_layer(corp, snapshot) == [] and corp["name"] == "Rules that can run in Corporate <Windows>"

    def score(layer, tid, tactic):
        return next(e["score"] for e in layer["techniques"] if (e["techniqueID"], e["tactic"]) == (tid, tactic))

    assert score(corp, "T1105", "command-and-control") >= 1  # certutil download, Sysmon 1: runs in corp
    assert (
        score(everything, "T1021.002", "lateral-movement") >= 1 and score(corp, "T1021.002", "lateral-movement") == 0
    )  # the seed needs 5145
    assert "environment-corp.json" in env_build.pages["ATTACK/index.md"]


def test_unknown_ids_in_an_environment_are_warnings(env_build: BuildResult) -> None:
    problems = [p for p in env_build.problems if p.kind == "environment"]
    assert [(p.severity, p.message) for p in problems] == [
        ("warning", "environment 'dmz': data component DC0999 is not in the knowledge base")
    ]
    dmz = env_build.pages["Environments/dmz.md"]  # an id with no page is not linked (it led to a missing page)
    assert "DC0999 (not in ATT&amp;CK v18.1)" in dmz and "data_components/DC0999.md" not in dmz


def test_without_environments_nothing_changes(default_build: BuildResult) -> None:
    assert not any(name.startswith("Environments/") or "environment-" in name for name in default_build.pages)
    assert "Environments" not in default_build.pages["index.md"]


def test_the_unlocks_not_shown_are_said_to_unlock_no_more_than_the_first_of_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tie at the cut ("And 3 more, each unlocking fewer rules" was false then), the sentence states the hidden rows' most."""
    monkeypatch.setattr("atc.render.environment_pages.UNLOCKS_SHOWN", 2)
    settings = replace(
        default_settings(), docs_dir=tmp_path / "docs", site_dir=tmp_path / "site", build_site=False, jobs=1, environments=(LINUX,)
    )
    result = run_build(settings, quiet=True)
    view = EnvironmentView(LINUX, result.kb.data_needed, result.kb.logging_policies)
    unlocks = view.unlocks([rule for rule in map(RuleSummary.of, result.kb.rules) if not view.verdict(rule).runs])
    assert len(unlocks) > 2 and unlocks[1].rules == unlocks[2].rules  # the default knowledge base ties at the cut
    hidden = max(unlock.rules for unlock in unlocks[2:])
    noun = "rule" if hidden == 1 else "rules"
    assert f"And {len(unlocks) - 2} more, each unlocking {hidden} {noun} or fewer." in result.pages["Environments/dmz.md"]
