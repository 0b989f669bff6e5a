"""`atc check`: load and link a knowledge base, run the chosen sets of pySigma rule-quality validators, write nothing."""

from __future__ import annotations

from dataclasses import fields
from uuid import UUID

from sigma.exceptions import SigmaRuleLocation
from sigma.rule import SigmaDetectionItem, SigmaLogSource, SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue

from atc.link.validator_sets import DEFAULT_SETS, ValidatorSetError, chosen_sets, installed_validators
from atc.load.rules import one_line
from atc.model import LogSource, Problem, Rule
from atc.settings import ConfigError


def _value_text(value: object) -> str:
    """A validator issue's detail, short: a detection item by its field, a log source by its parts."""
    if isinstance(value, SigmaDetectionItem):
        return f"field {value.field or '(keywords)'}"
    if isinstance(value, SigmaLogSource):
        return LogSource(value.product, value.service, value.category).describe()
    text = " ".join(str(value).split())
    return text if len(text) <= 120 else text[:119] + "…"


def _issue_text(issue: SigmaValidationIssue) -> str:
    """The issue's description and its own fields, on one line."""
    details = ", ".join(
        f"{f.name}: {_value_text(getattr(issue, f.name))}" for f in fields(issue) if f.name not in ("rules", "severity", "description")
    )
    return f"{issue.description}" + (f" ({details})" if details else "")


class ExclusionError(ConfigError):
    """A validator exclusion names a validator that is not installed or an id that is not a UUID."""


def _exclusions(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[UUID | None, set[type[SigmaRuleValidator]]]:
    """pySigma's exclusion mapping from the settings' (rule id, validator names) pairs."""
    validators = installed_validators()
    result: dict[UUID | None, set[type[SigmaRuleValidator]]] = {}
    for rule_id, names in pairs:
        unknown = [name for name in names if name not in validators]
        if unknown:
            raise ExclusionError(
                f"validator_exclusions: unknown pySigma validator(s) {', '.join(unknown)} for rule {rule_id} (not installed)"
            )
        try:
            result[UUID(rule_id)] = {validators[name] for name in names}
        except ValueError as exc:
            raise ExclusionError(f"validator_exclusions: {rule_id!r} is not a rule id (UUID)") from exc
    return result


class UnknownValidatorSetError(ExclusionError):
    """`validators:` names a set that is not installed."""


def validate(
    rules: list[Rule], exclusions: tuple[tuple[str, tuple[str, ...]], ...] = (), sets: tuple[str, ...] = DEFAULT_SETS
) -> list[Problem]:
    """The chosen sets' offline validators over the rules, as warnings naming each rule's file; excluded (rule, validator) pairs are skipped."""
    try:
        chosen = {key: cls for found in chosen_sets(sets) for key, cls in found.runs.items()}
    except ValidatorSetError as exc:
        raise UnknownValidatorSetError(str(exc)) from exc
    validator = SigmaValidator([cls for _, cls in sorted(chosen.items())], exclusions=_exclusions(exclusions))
    issues: list[SigmaValidationIssue] = []
    problems: list[Problem] = []
    for rule in (rule for rule in rules if rule.kind == "rule"):  # correlations, filters and rules pySigma rejects are not SigmaRules
        try:
            issues.extend(validator.validate_rule(SigmaRule.from_dict(rule.data, source=SigmaRuleLocation(rule.path))))
        except Exception as exc:  # a validator meeting an odd but loadable rule must not stop the check
            problems.append(
                Problem(str(rule.path), "sigma-validation", f"a pySigma validator failed on the rule: {one_line(exc)}", severity="warning")
            )
    for issue in issues + validator.finalize():
        for sigma_rule in issue.rules:
            path = str(sigma_rule.source.path) if sigma_rule.source else str(sigma_rule.id)
            problems.append(Problem(path, "sigma-validation", _issue_text(issue), severity="warning"))
    return sorted(set(problems))
