"""Progress without a terminal: one line per stage, however many items it counts."""

from __future__ import annotations

import io

from atc.common.progress import Progress


def test_a_stage_logs_one_line_without_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("convert", 1000, stream)
    for _ in range(1000):
        progress.advance()
    progress.close()
    [line] = stream.getvalue().splitlines()
    assert line.startswith("convert: 1000/1000 in ")


def test_quiet_logs_nothing() -> None:
    stream = io.StringIO()
    progress = Progress("load", 10, stream, quiet=True)
    progress.advance(10)
    progress.close()
    assert stream.getvalue() == ""
