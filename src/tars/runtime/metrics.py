"""In-process counters and latency histograms, summarised for ``system/metrics/<service>``."""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator, Sequence

from tars.contracts.metrics import HistogramSummary, MetricsSnapshot

_WINDOW = 1024


class Histogram:
    """Latency observations: a total count plus a sliding window for percentiles."""

    def __init__(self, window: int = _WINDOW) -> None:
        self.count = 0
        self._recent: collections.deque[float] = collections.deque(maxlen=window)

    def observe(self, value_ms: float) -> None:
        """Record one observation in milliseconds."""
        self.count += 1
        self._recent.append(value_ms)

    def summary(self) -> HistogramSummary:
        """Percentiles of the recent window."""
        if not self._recent:
            return HistogramSummary(count=self.count, p50=0.0, p90=0.0, p99=0.0, max=0.0)
        values = sorted(self._recent)
        return HistogramSummary(
            count=self.count,
            p50=round(percentile(values, 50), 3),
            p90=round(percentile(values, 90), 3),
            p99=round(percentile(values, 99), 3),
            max=round(values[-1], 3),
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of sorted, non-empty ``ordered``, interpolated linearly.

    The same rule as numpy's default (``method="linear"``); written out so every service,
    light ones included, can summarise latencies without importing numpy (~13 MiB resident).
    """
    position = (len(ordered) - 1) * q / 100.0
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


class Metrics:
    """A service's metrics registry. Not thread-safe: use it from the event loop."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._started = time.monotonic()
        self._counters: collections.Counter[str] = collections.Counter()
        self._histograms: dict[str, Histogram] = {}

    def inc(self, name: str, amount: int = 1) -> None:
        """Add to a counter."""
        self._counters[name] += amount

    def count(self, name: str) -> int:
        """Current value of a counter."""
        return self._counters[name]

    def observe(self, name: str, value_ms: float) -> None:
        """Record a latency in milliseconds."""
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = self._histograms[name] = Histogram()
        histogram.observe(value_ms)

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time the enclosed block into the histogram ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(name, (time.perf_counter() - start) * 1000.0)

    def snapshot(self) -> MetricsSnapshot:
        """Everything recorded so far, as a wire model."""
        return MetricsSnapshot(
            service=self.service,
            uptime_s=round(time.monotonic() - self._started, 3),
            counters=dict(self._counters),
            latencies={name: hist.summary() for name, hist in self._histograms.items()},
        )
