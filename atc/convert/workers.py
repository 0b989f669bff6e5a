"""Conversions in forked worker processes, each under its target's time limit, watched from the calling process.

The limit works from any thread (no signal is involved) and also stops a backend stuck in C code: a worker past its
limit is killed and replaced by a fresh fork, which carries on with the job's other targets. A job's conversions come
in target order, the jobs' results in job order, whatever the scheduling.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from atc.convert.targets import Target
from atc.model import Conversion

Job = tuple[dict | list[dict], tuple[Target, ...]]  # a rule's parsed YAML (or documents converted together) and its targets
Convert = Callable[[dict | list[dict], Target], Conversion]  # runs in the worker; never raises


def _serve(connection: Connection, convert: Convert) -> None:
    """A worker's loop: convert each job sent, sending every conversion as soon as it is made."""
    while True:
        job = connection.recv()
        if job is None:
            return
        data, targets = job
        for target in targets:
            connection.send(convert(data, target))


@dataclass
class _Worker:
    """A forked worker and the job it is on: the targets still to convert and when the current one must be done."""

    process: BaseProcess
    connection: Connection
    convert: Convert
    job: int = -1  # -1: idle
    targets: tuple[Target, ...] = ()
    deadline: float = 0.0

    @classmethod
    def start(cls, convert: Convert) -> _Worker:
        ours, theirs = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, convert), daemon=True)
        process.start()
        theirs.close()
        return cls(process, ours, convert)

    def give(self, number: int, data: dict | list[dict], targets: tuple[Target, ...]) -> None:
        """Start a job (or what is left of one) on this worker."""
        self.job, self.targets = number, targets
        self.deadline = time.monotonic() + targets[0].timeout
        self.connection.send((data, targets))

    def advance(self) -> None:
        """The current target is done: the clock starts for the next one, or the worker is idle."""
        self.targets = self.targets[1:]
        if self.targets:
            self.deadline = time.monotonic() + self.targets[0].timeout
        else:
            self.job = -1

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except OSError:  # already gone
                pass
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def run_jobs(jobs: Sequence[Job], processes: int, convert: Convert) -> Iterator[list[Conversion]]:
    """Each job's conversions (one per target, in target order), in job order, made by up to `processes` workers."""
    waiting = deque(range(len(jobs)))
    results: list[list[Conversion]] = [[] for _ in jobs]
    complete = [False] * len(jobs)
    workers = [_Worker.start(convert) for _ in range(min(processes, len(jobs)))]
    given = 0  # the next job to hand back, in order
    try:
        while given < len(jobs):
            for worker in workers:
                if worker.job < 0 and waiting:
                    job = waiting.popleft()
                    worker.give(job, *jobs[job])
            busy = [worker for worker in workers if worker.job >= 0]
            ready = wait([worker.connection for worker in busy], max(0.0, min(w.deadline for w in busy) - time.monotonic()))
            for worker in busy:
                job = worker.job
                if worker.connection in ready:
                    try:
                        results[job].append(worker.connection.recv())
                    except (EOFError, OSError):  # the worker died (a crash in C code, or killed from outside)
                        results[job].append(_died(worker))
                        worker = _replace(workers, worker, jobs)
                    else:
                        worker.advance()
                elif time.monotonic() >= worker.deadline:
                    results[job].append(_timed_out(worker.targets[0]))
                    worker = _replace(workers, worker, jobs)
                complete[job] = worker.job != job
            while given < len(jobs) and complete[given]:
                yield results[given]
                given += 1
    finally:
        for worker in workers:
            worker.stop(kill=worker.job >= 0)


def _replace(workers: list[_Worker], worker: _Worker, jobs: Sequence[Job]) -> _Worker:
    """Kill a worker whose conversion ended from outside (time limit, crash); a fresh fork carries on with the job's other targets."""
    worker.stop(kill=True)
    fresh = _Worker.start(worker.convert)
    workers[workers.index(worker)] = fresh
    rest = worker.targets[1:]
    if rest:
        fresh.give(worker.job, jobs[worker.job][0], rest)
    return fresh


def _timed_out(target: Target) -> Conversion:
    return Conversion(target.key, "timeout", error=f"conversion took longer than {target.timeout:g} s and was stopped")


def _died(worker: _Worker) -> Conversion:
    worker.process.join(timeout=5)
    return Conversion(
        worker.targets[0].key, "failed", error=f"the converting process ended unexpectedly (exit code {worker.process.exitcode})"
    )
