"""Measuring requests in process: thread CPU, process CPU, SQL, or a profile.

Shared by scan_cpu.py and buy_cpu.py. Each takes zero-argument callables
(one request each, through django.test.Client) and reads the CPU the calling
thread and the whole process (which includes the realtime publisher thread)
used around each call with the kernel's per-thread and per-process CPU
clocks: robust on a shared machine, where wall-clock rates vary by a quarter.
(Not getrusage: on some kernels it counts in whole scheduler ticks, so a
sub-millisecond request read as 0 or 4 ms.)
"""

import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable, Iterable


def _thread_ms() -> float:
    return time.thread_time() * 1000


def _process_ms() -> float:
    return time.process_time() * 1000


def header(width: int) -> str:
    return f"{'kind':{width}s} {'thread ms p50':>14s} {'p90':>6s} {'process ms p50':>15s}  SQL"


def cpu_line(
    kind: str, calls: Iterable[Callable[[], object]], one_more: Callable, width: int
) -> str:
    """Median and p90 thread CPU and median process CPU over `calls`, then the
    SQL statements of `one_more` (a further call of the same kind)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    thread, process = [], []
    for call in calls:
        t0, p0 = _thread_ms(), _process_ms()
        call()
        thread.append(_thread_ms() - t0)
        process.append(_process_ms() - p0)
    with CaptureQueriesContext(connection) as queries:
        one_more()
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    deciles = statistics.quantiles(thread, n=10)
    return (
        f"{kind:{width}s} {statistics.median(thread):14.2f} {deciles[8]:6.2f}"
        f" {statistics.median(process):15.2f}  {len(statements)}"
        f" {' '.join(statements)}"
    )


def profile(calls: Iterable[Callable[[], object]]) -> None:
    """Print a cProfile of `calls` (sorted by $SORT, top $TOP lines)."""
    calls = list(calls)
    profiler = cProfile.Profile()
    profiler.enable()
    for call in calls:
        call()
    profiler.disable()
    pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(
        int(os.environ.get("TOP", "60"))
    )
