"""Load and render in forked workers: results in input order, and the same pages as one process makes."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from atc.common.parallel import MIN_ITEMS, ForkedMap, WorkerLost, in_thread
from atc.engine import run_build
from atc.settings import default_settings
from tests.conftest import CORPORA, needs_corpora
from tests.test_deterministic import tree


def _square_and_pid(number: int) -> tuple[int, int]:
    return number * number, os.getpid()


def test_forked_map_keeps_the_order_and_uses_workers() -> None:
    results = ForkedMap(_square_and_pid, range(200), 2).results()
    assert [square for square, _ in results] == [number * number for number in range(200)]
    assert os.getpid() not in {pid for _, pid in results}


def test_few_items_or_one_job_stay_in_this_process() -> None:
    for items, jobs in ((range(MIN_ITEMS - 1), 2), (range(200), 1)):
        assert {pid for _, pid in ForkedMap(_square_and_pid, items, jobs).results()} == {os.getpid()}


def _fail_on_three(number: int) -> int:
    if number == 3:
        raise ValueError(f"no {number}")
    return number


def _die_on_three(number: int) -> int:
    if number == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return number


@pytest.mark.parametrize("count", [2, 3, 7])
def test_heavy_items_are_shared_by_plain_workers_in_order_while_no_pool_thread_runs(count: int) -> None:
    threads = threading.active_count()
    work = ForkedMap(_square_and_pid, range(count), 2, heavy=True)
    assert threading.active_count() == threads  # another stage may fork its workers meanwhile
    results = work.results()
    assert [square for square, _ in results] == [number * number for number in range(count)]
    assert len({pid for _, pid in results}) == 2 and os.getpid() not in {pid for _, pid in results}


def test_a_heavy_worker_that_raises_or_dies_stops_the_results_with_its_reason() -> None:
    with pytest.raises(ValueError, match="no 3"):
        ForkedMap(_fail_on_three, range(6), 2, heavy=True).results()
    with pytest.raises(WorkerLost, match="exit code -9"):
        ForkedMap(_die_on_three, range(6), 2, heavy=True).results()


def _fail_first_else_big(number: int) -> str:
    if number == 0:
        raise ValueError("first")
    return "x" * 1_000_000  # more than a pipe holds: its worker waits to send


def test_when_one_heavy_worker_fails_the_others_end_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    import multiprocessing

    with pytest.raises(ValueError, match="first"):
        ForkedMap(_fail_first_else_big, range(6), 2, heavy=True).results()
    assert not multiprocessing.active_children() and "Traceback" not in capfd.readouterr().err


@needs_corpora()
def test_parallel_load_and_render_make_the_pages_one_process_makes(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    for path in sorted((CORPORA / "sigma/rules/windows/process_creation").glob("*.yml"))[:150]:
        (rules / path.name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, rules / path.name)
    base = replace(default_settings(), rules=(rules,), build_site=False, targets=("splunk",))
    for name, jobs in (("one", 1), ("two", 2)):
        run_build(replace(base, docs_dir=tmp_path / name / "docs", cache_dir=tmp_path / name / "cache", jobs=jobs), quiet=True)
    one, two = tree(tmp_path / "one/docs"), tree(tmp_path / "two/docs")
    assert len(one) > 150 and one == two


def test_work_in_a_thread_gives_its_result_or_its_error() -> None:
    assert in_thread(threading.get_ident).result() != threading.get_ident()
    with pytest.raises(OSError, match="disk full"):
        in_thread(lambda: (_ for _ in ()).throw(OSError("disk full"))).result()
