"""A backend's warnings are kept with its conversion (for the problem report) instead of reaching the terminal."""

from __future__ import annotations

import warnings

import pytest
import yaml

from atc.convert.backends import GrepBackend
from atc.convert.runner import convert_one
from atc.convert.targets import Target

RULE = yaml.safe_load("""
title: t
logsource: {product: windows}
detection:
    selection: {Image|endswith: '\\\\x.exe'}
    condition: selection
""")


class WarningBackend(GrepBackend):
    """The grep backend, warning as pysigma-backend-loki does when it splits a long query."""

    def convert_rule(self, rule, output_format=None, callback=None):  # type: ignore[no-untyped-def]
        warnings.warn("Too few arguments to highest OR, reducing partition count to 1", stacklevel=1)
        warnings.warn("Too few arguments to highest OR, reducing partition count to 1", stacklevel=1)
        return super().convert_rule(rule, output_format, callback)


def test_backend_warnings_are_captured_once_each_with_the_conversion(
    recwarn: pytest.WarningsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    conversion = convert_one(RULE, Target("warny", "Warny", f"{__name__}:WarningBackend"))
    assert conversion.status == "ok" and conversion.query
    assert conversion.warnings == ("UserWarning: Too few arguments to highest OR, reducing partition count to 1",)
    assert len(recwarn) == 0 and capsys.readouterr().err == ""


def test_a_quiet_backend_leaves_no_warnings() -> None:
    conversion = convert_one(RULE, Target("grep", "grep", "atc.convert.backends:GrepBackend"))
    assert conversion.status == "ok" and conversion.warnings == ()
