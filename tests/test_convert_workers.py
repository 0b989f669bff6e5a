"""The conversion workers: batches of jobs, one time limit per conversion, results in order whatever ends a worker."""

from __future__ import annotations

import os
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atc.convert.targets import Target
from atc.convert.workers import run_jobs
from atc.model import Conversion

LIMIT = 0.2
TARGETS = tuple(Target(key, key.upper(), "none:None", timeout=LIMIT) for key in ("first", "second", "third"))


def behave(data: dict, target: Target) -> Conversion:
    """A stand-in conversion: what happens to (rule, target) is written in the rule."""
    action = data.get(target.key, "ok")
    if action == "slow":
        time.sleep(60)
    if action == "crash":
        os._exit(7)
    return Conversion(target.key, "ok", query=f"{data['n']}:{target.key}:{os.getpid()}")


def expected(data: dict, target: Target) -> tuple[str, str]:
    action = data.get(target.key, "ok")
    return {"slow": ("timeout", ""), "crash": ("failed", "")}.get(action, ("ok", f"{data['n']}:{target.key}"))


def check(jobs: list, processes: int) -> None:
    got = list(run_jobs(jobs, processes, behave))
    assert len(got) == len(jobs)
    for (data, targets), conversions in zip(jobs, got):
        assert [c.target for c in conversions] == [t.key for t in targets]  # target order within each job
        for target, conversion in zip(targets, conversions):
            status, query = expected(data, target)
            assert conversion.status == status, (data, target.key, conversion)
            if status == "ok":
                assert conversion.query.rsplit(":", 1)[0] == query
            elif status == "timeout":
                assert conversion.error == f"conversion took longer than {LIMIT:g} s and was stopped"
            else:
                assert conversion.error == "the converting process ended unexpectedly (exit code 7)"


def test_many_jobs_go_in_batches_and_come_back_in_job_order() -> None:
    jobs = [({"n": n}, TARGETS) for n in range(300)]
    got = list(run_jobs(jobs, 2, behave))
    assert [c.query.rsplit(":", 1)[0] for conversions in got for c in conversions] == [f"{n}:{t.key}" for n in range(300) for t in TARGETS]
    workers_used = {c.query.rsplit(":", 1)[1] for conversions in got for c in conversions}
    assert len(workers_used) == 2  # both workers took part


def test_a_stuck_or_crashing_conversion_in_the_middle_of_a_batch_costs_only_itself() -> None:
    """Jobs before and after the bad one in the same batch keep their conversions, and the job's other targets are made."""
    jobs = [({"n": n}, TARGETS) for n in range(200)]
    jobs[37] = ({"n": 37, "second": "slow"}, TARGETS)
    jobs[38] = ({"n": 38, "first": "crash", "third": "slow"}, TARGETS)
    jobs[150] = ({"n": 150, "third": "crash"}, TARGETS[1:])
    check(jobs, 2)


def test_a_worker_killed_from_outside_fails_the_conversion_it_was_on_and_the_rest_are_made(tmp_path) -> None:
    patient = tuple(Target(t.key, t.label, t.backend, timeout=30) for t in TARGETS)
    jobs = [({"n": n}, patient) for n in range(60)]
    jobs[20] = ({"n": 20, "second": "wait"}, patient)
    marker = tmp_path / "pid"

    def wait_to_be_killed(data: dict, target: Target) -> Conversion:
        if data.get(target.key) == "wait":
            marker.write_text(str(os.getpid()))
            time.sleep(30)
        return behave({"n": data["n"]}, target)

    def killer() -> None:
        while not marker.exists() or not marker.read_text():
            time.sleep(0.01)
        os.kill(int(marker.read_text()), 9)

    thread = threading.Thread(target=killer)
    thread.start()
    started = time.perf_counter()
    got = list(run_jobs(jobs, 2, wait_to_be_killed))
    thread.join()
    assert time.perf_counter() - started < 10
    for n, conversions in enumerate(got):
        for target, conversion in zip(patient, conversions):
            if (n, target.key) == (20, "second"):
                assert conversion == Conversion("second", "failed", error="the converting process ended unexpectedly (exit code -9)")
            else:
                assert conversion.status == "ok" and conversion.query.startswith(f"{n}:{target.key}:")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries({}, optional={t.key: st.sampled_from(["ok", "ok", "ok", "slow", "crash"]) for t in TARGETS}),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_any_mix_of_good_stuck_and_crashing_conversions(actions: list[dict], processes: int) -> None:
    jobs = [({"n": n, **action}, TARGETS) for n, action in enumerate(actions)]
    check(jobs, processes)
