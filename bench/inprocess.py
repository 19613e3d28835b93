"""Measuring requests in process: thread CPU, process CPU, SQL, or a profile.

Shared by scan_cpu.py and buy_cpu.py. Each takes zero-argument callables
(one request each, through django.test.Client) and reads the CPU the calling
thread and the whole process (which includes the realtime publisher thread)
used around each call with getrusage: robust on a shared machine, where
wall-clock rates vary by a quarter.
"""

import cProfile
import os
import pstats
import resource
import statistics
from collections.abc import Callable, Iterable


def _cpu_ms(who: int) -> float:
    usage = resource.getrusage(who)
    return (usage.ru_utime + usage.ru_stime) * 1000


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
        t0, p0 = _cpu_ms(resource.RUSAGE_THREAD), _cpu_ms(resource.RUSAGE_SELF)
        call()
        thread.append(_cpu_ms(resource.RUSAGE_THREAD) - t0)
        process.append(_cpu_ms(resource.RUSAGE_SELF) - p0)
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
