"""Forked worker processes for the stages' independent items (rule files to parse, pages to render), results in input
order; a thread for I/O that can overlap the caller's work."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MIN_ITEMS = 64  # fewer items are done in this process: forking costs more than it saves


def cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_chunk(function: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Worker task: the function over one chunk."""
    return [function(item) for item in chunk]


class ForkedMap:
    """function over items in `jobs` forked workers (they inherit this process's state: nothing but items and results is pickled).

    Started at construction, so that the caller can do other work before asking for the results.
    """

    def __init__(self, function: Callable[[T], R], items: Sequence[T], jobs: int, heavy: bool = False) -> None:
        """heavy: each item is long work (a whole export file): every item a task of its own, forked even when few."""
        self.function, self.items = function, items
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[list[R]]] = []
        if jobs > 1 and len(items) >= (2 if heavy else MIN_ITEMS) and "fork" in multiprocessing.get_all_start_methods():
            size = 1 if heavy else max(8, min(64, len(items) // (jobs * 8)))
            self.pool = ProcessPoolExecutor(jobs, multiprocessing.get_context("fork"))
            self.futures = [self.pool.submit(_run_chunk, function, items[start : start + size]) for start in range(0, len(items), size)]

    def results(self) -> list[R]:
        """The results in item order (computed here when no worker was started)."""
        if self.pool is None:
            return [self.function(item) for item in self.items]
        try:
            return [result for future in self.futures for result in future.result()]
        finally:
            self.pool.shutdown()


def in_thread(work: Callable[[], R]) -> Future[R]:
    """Start work in a thread of its own (I/O that overlaps the caller's: SQLite and the kernel leave the GIL); the
    future gives its result or re-raises what stopped it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="atc")
    started = pool.submit(work)
    pool.shutdown(wait=False)  # the thread ends with the work
    return started
