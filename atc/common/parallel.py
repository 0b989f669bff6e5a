"""Forked worker processes for the stages' independent items (rule files to parse, pages to render, export files to
finalise), results in input order; a thread for I/O that can overlap the caller's work."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
MIN_ITEMS = 64  # fewer items are done in this process: forking costs more than it saves


def cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_chunk(function: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Worker task: the function over one chunk."""
    return [function(item) for item in chunk]


class WorkerLost(RuntimeError):
    """A forked worker ended without giving its results (killed, or out of memory)."""


def _share(function: Callable[[T], R], items: Sequence[T], sending: Connection, inherited: list[Connection]) -> None:
    """A heavy worker: the function over its share of the items, sent back in one message (or what stopped it)."""
    for receiving in inherited:  # the caller's ends, its own pipe's too: a caller that stops reading is seen as such
        receiving.close()
    try:
        outcome: tuple[str, Any] = ("ok", [function(item) for item in items])
    except BaseException as exc:  # raised again in the caller
        outcome = ("raised", exc)
    try:
        sending.send(outcome)
    except OSError:  # the caller stopped waiting (another worker failed first): nothing to tell
        pass
    sending.close()


class ForkedMap:
    """function over items in `jobs` forked workers (they inherit this process's state: nothing but items and results is pickled).

    Started at construction, so that the caller can do other work before asking for the results.
    """

    def __init__(self, function: Callable[[T], R], items: Sequence[T], jobs: int, heavy: bool = False) -> None:
        """heavy: each item is long work (a whole export file): forked even when few, each worker a plain process given
        its share at once, so that no pool thread is alive while the caller forks other workers meanwhile."""
        self.function, self.items = function, items
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[list[R]]] = []
        self.shares: list[tuple[multiprocessing.process.BaseProcess, Connection, range]] = []
        if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods() or len(items) < (2 if heavy else MIN_ITEMS):
            return
        context = multiprocessing.get_context("fork")
        if heavy:
            for first in range(min(jobs, len(items))):
                share = range(first, len(items), jobs)
                receiving, sending = context.Pipe(duplex=False)
                inherited = [*(end for _, end, _ in self.shares), receiving]
                process = context.Process(target=_share, args=(function, [items[n] for n in share], sending, inherited), daemon=True)
                process.start()
                sending.close()
                self.shares.append((process, receiving, share))
            return
        size = max(8, min(64, len(items) // (jobs * 8)))
        self.pool = ProcessPoolExecutor(jobs, context)
        self.futures = [self.pool.submit(_run_chunk, function, items[start : start + size]) for start in range(0, len(items), size)]

    def results(self) -> list[R]:
        """The results in item order (computed here when no worker was started)."""
        if self.shares:
            return self._shared_results()
        if self.pool is None:
            return [self.function(item) for item in self.items]
        try:
            return [result for future in self.futures for result in future.result()]
        finally:
            self.pool.shutdown()

    def _shared_results(self) -> list[R]:
        """The heavy workers' results, put back in item order."""
        found: dict[int, R] = {}
        stopped = True
        try:
            for process, receiving, share in self.shares:
                try:
                    status, value = receiving.recv()
                except EOFError:
                    process.join()
                    raise WorkerLost(f"a worker process ended without its results (exit code {process.exitcode})") from None
                if status == "raised":
                    raise value
                found.update(zip(share, value))
            stopped = False
        finally:
            for process, receiving, _ in self.shares:
                receiving.close()
                if stopped:  # its results are not wanted: it may be waiting to send them (or still working)
                    process.terminate()
                process.join()
        return [found[number] for number in range(len(self.items))]


def in_thread(work: Callable[[], R]) -> Future[R]:
    """Start work in a thread of its own (I/O that overlaps the caller's: SQLite and the kernel leave the GIL); the
    future gives its result or re-raises what stopped it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="atc")
    started = pool.submit(work)
    pool.shutdown(wait=False)  # the thread ends with the work
    return started
