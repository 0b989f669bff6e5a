"""Conversions in forked worker processes, each under its target's time limit, watched from the calling process.

A worker gets a batch of jobs in one message and sends their conversions back in one message; while it converts, it
writes which conversion of the batch it is on and that conversion's deadline into memory shared with the caller. The
limit so works from any thread (no signal is involved) and also stops a backend stuck in C code: a worker past a
deadline is killed and replaced by a fresh fork, which carries on with the batch's other conversions. A job's
conversions come in target order, the jobs' results in job order, whatever the scheduling.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import RawArray

from atc.convert.targets import Target
from atc.model import Conversion

Job = tuple[dict | list[dict], tuple[Target, ...]]  # a rule's parsed YAML (or documents converted together) and its targets
Convert = Callable[[dict | list[dict], Target], Conversion]  # runs in the worker; never raises
Piece = tuple[int, tuple[int, ...]]  # a job's number and the positions of the targets to convert in it

BATCH = 16  # jobs per message at most: fewer round trips, while the last batches still spread over the workers
IDLE_CHECK = 0.1  # seconds between looks at a worker that is between two conversions
STEP, DEADLINE = 0, 1  # the shared slots: the conversion of the batch in progress, and when it must be done


def _serve(connection: Connection, convert: Convert, progress: MutableSequence[float]) -> None:
    """A worker's loop: convert each batch sent and send its conversions back, keeping the shared progress current."""
    while True:
        batch = connection.recv()
        if batch is None:
            return
        results: list[list[Conversion]] = []
        step = 0
        for data, targets in batch:
            conversions = []
            for target in targets:
                progress[DEADLINE] = math.inf  # never a half-written pair: no deadline while the step changes
                progress[STEP] = step
                progress[DEADLINE] = time.monotonic() + target.timeout
                conversions.append(convert(data, target))
                step += 1
            results.append(conversions)
        progress[DEADLINE] = math.inf
        connection.send(results)


@dataclass
class _Worker:
    """A forked worker and the batch it is on."""

    process: BaseProcess
    connection: Connection
    progress: MutableSequence[float]
    convert: Convert
    pieces: list[Piece] = field(default_factory=list)  # empty: idle

    @classmethod
    def start(cls, convert: Convert) -> _Worker:
        ours, theirs = multiprocessing.Pipe()
        progress = RawArray("d", [0.0, math.inf])
        process = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, convert, progress), daemon=True)
        process.start()
        theirs.close()
        return cls(process, ours, progress, convert)

    def give(self, pieces: list[Piece], jobs: Sequence[Job]) -> None:
        self.pieces = pieces
        self.progress[STEP] = 0  # a worker ending before its first conversion of the batch is on that one
        self.connection.send([(jobs[job][0], tuple(jobs[job][1][i] for i in positions)) for job, positions in pieces])

    def steps(self) -> list[tuple[int, int]]:
        """The batch's conversions in the order the worker makes them: (job, target position)."""
        return [(job, position) for job, positions in self.pieces for position in positions]

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
    results: list[dict[int, Conversion]] = [{} for _ in jobs]
    waiting: deque[Piece] = deque((job, tuple(range(len(targets)))) for job, (_, targets) in enumerate(jobs))
    size = max(1, min(BATCH, len(jobs) // (max(1, processes) * 8)))
    workers = [_Worker.start(convert) for _ in range(min(processes, len(jobs)))]
    given = 0  # the next job to hand back, in order
    try:
        while given < len(jobs):
            for worker in workers:
                if not worker.pieces and waiting:
                    worker.give([waiting.popleft() for _ in range(min(size, len(waiting)))], jobs)
            busy = [worker for worker in workers if worker.pieces]
            ready = wait([worker.connection for worker in busy], _next_look(busy))
            for worker in busy:
                if worker.connection in ready:
                    try:
                        batch = worker.connection.recv()
                    except (EOFError, OSError):  # the worker died (a crash in C code, or killed from outside)
                        worker.stop()  # waits for its end: its exit code says how it ended
                        _requeue(worker, results, waiting, jobs, _died)
                        _replace(workers, worker)
                        continue
                    for (job, positions), conversions in zip(worker.pieces, batch):
                        results[job].update(zip(positions, conversions))
                    worker.pieces = []
                elif time.monotonic() >= worker.progress[DEADLINE]:
                    killed_at = time.monotonic()
                    worker.stop(kill=True)
                    late = worker.progress[DEADLINE] <= killed_at  # else it had just begun the next conversion: no fault of it
                    _requeue(worker, results, waiting, jobs, _timed_out if late else None)
                    _replace(workers, worker)
            while given < len(jobs) and len(results[given]) == len(jobs[given][1]):
                yield [results[given][position] for position in range(len(jobs[given][1]))]
                given += 1
    finally:
        for worker in workers:
            worker.stop(kill=bool(worker.pieces))


def _next_look(busy: list[_Worker]) -> float:
    """How long to wait for a message before looking at the deadlines again."""
    deadline = min(worker.progress[DEADLINE] for worker in busy)
    return IDLE_CHECK if math.isinf(deadline) else max(0.0, deadline - time.monotonic())


def _requeue(
    worker: _Worker,
    results: list[dict[int, Conversion]],
    waiting: deque[Piece],
    jobs: Sequence[Job],
    fault: Callable[[_Worker, Target], Conversion] | None,
) -> None:
    """A worker that ended mid-batch: the conversion it was on gets `fault`'s result, the batch's others are done again first."""
    steps = worker.steps()
    current = min(int(worker.progress[STEP]), len(steps) - 1)
    if fault is not None and steps:
        job, position = steps[current]
        results[job][position] = fault(worker, jobs[job][1][position])
        steps.pop(current)
    again: dict[int, list[int]] = {}
    for job, position in steps:
        again.setdefault(job, []).append(position)
    waiting.extendleft(reversed([(job, tuple(positions)) for job, positions in again.items()]))
    worker.pieces = []


def _replace(workers: list[_Worker], worker: _Worker) -> None:
    """A fresh fork in place of a worker that was stopped (killed, or found dead)."""
    workers[workers.index(worker)] = _Worker.start(worker.convert)


def _timed_out(worker: _Worker, target: Target) -> Conversion:
    return Conversion(target.key, "timeout", error=f"conversion took longer than {target.timeout:g} s and was stopped")


def _died(worker: _Worker, target: Target) -> Conversion:
    return Conversion(target.key, "failed", error=f"the converting process ended unexpectedly (exit code {worker.process.exitcode})")
