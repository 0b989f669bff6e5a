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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from atc.convert.targets import Target
from atc.model import Conversion

Job = tuple[dict | list[dict], tuple[Target, ...]]  # a rule's parsed YAML (or documents converted together) and its targets
Convert = Callable[[dict | list[dict], Target], Conversion]  # runs in the worker; never raises
_IN_FLIGHT = 2  # jobs sent to a worker at once: the next one is in its pipe when the current one is done


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
    """A forked worker and the jobs sent to it: the first is being converted, the next waits in its pipe (no idle gap)."""

    process: BaseProcess
    connection: Connection
    convert: Convert
    queue: deque[tuple[int, tuple[Target, ...]]] = field(default_factory=deque)  # (job, targets still to convert), in order
    deadline: float = 0.0  # when the conversion under way must be done

    @classmethod
    def start(cls, convert: Convert) -> _Worker:
        ours, theirs = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, convert), daemon=True)
        process.start()
        theirs.close()
        return cls(process, ours, convert)

    @property
    def job(self) -> int:
        """The job being converted, or -1 when idle."""
        return self.queue[0][0] if self.queue else -1

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets of the job being converted that are not done yet."""
        return self.queue[0][1] if self.queue else ()

    def give(self, number: int, data: dict | list[dict], targets: tuple[Target, ...]) -> None:
        """Send a job (or what is left of one) to this worker; its clock starts when the jobs before it are done."""
        if not self.queue:
            self.deadline = time.monotonic() + targets[0].timeout
        self.queue.append((number, targets))
        self.connection.send((data, targets))

    def advance(self) -> None:
        """The current target is done: the clock starts for the next one, of this job or the next."""
        number, targets = self.queue[0]
        if targets[1:]:
            self.queue[0] = (number, targets[1:])
        else:
            self.queue.popleft()
        if self.queue:
            self.deadline = time.monotonic() + self.queue[0][1][0].timeout

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
                while len(worker.queue) < _IN_FLIGHT and waiting:
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
    """Kill a worker whose conversion ended from outside (time limit, crash); a fresh fork carries on with the job's
    other targets and the jobs that were waiting for it."""
    worker.stop(kill=True)
    fresh = _Worker.start(worker.convert)
    workers[workers.index(worker)] = fresh
    (number, targets), *waiting = worker.queue
    if targets[1:]:
        fresh.give(number, jobs[number][0], targets[1:])
    for other, rest in waiting:
        fresh.give(other, jobs[other][0], rest)
    return fresh


def _timed_out(target: Target) -> Conversion:
    return Conversion(target.key, "timeout", error=f"conversion took longer than {target.timeout:g} s and was stopped")


def _died(worker: _Worker) -> Conversion:
    worker.process.join(timeout=5)
    return Conversion(
        worker.targets[0].key, "failed", error=f"the converting process ended unexpectedly (exit code {worker.process.exitcode})"
    )
