"""`/metrics` of `reconcile --serve`, in the Prometheus exposition format by prometheus-client.

The same series as the --metrics-file textfile (core/metrics.py counts them), handed to
prometheus-client through a collector that reads the latest counters at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from reconciler.core import metrics
from reconciler.core.errors import UsageError

MISSING = (
    "--serve needs the prometheus-client package; install the serve extra: "
    "pip install 'tensormesh-reconciler[serve]'"
)


def check_installed() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        raise UsageError(MISSING) from exc


class Exposition:
    """Renders the counters `read` returns; `read` runs at each scrape."""

    def __init__(self, read: Callable[[], metrics.Counters]) -> None:
        from prometheus_client import CollectorRegistry

        self._read = read
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)  # type: ignore[arg-type]

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        counters = self._read()
        prefix = metrics.PREFIX
        passes = CounterMetricFamily(
            prefix + "passes", "Reconcile passes run, by result.", labels=["result"]
        )
        for result in sorted({*metrics.PASS_RESULTS, *counters.passes}):
            passes.add_metric([result], counters.passes.get(result, 0))
        yield passes
        drift = GaugeMetricFamily(
            prefix + "drift", "Drift found in the last pass, by kind.", labels=["kind"]
        )
        found = CounterMetricFamily(
            prefix + "drift_found", "Drift found over all passes, by kind.", labels=["kind"]
        )
        for kind in metrics.DRIFT_KINDS:
            drift.add_metric([kind], counters.drift_last.get(kind, 0))
            found.add_metric([kind], counters.drift_found.get(kind, 0))
        yield drift
        yield found
        corrections = CounterMetricFamily(
            prefix + "corrections", "Corrections attempted, by result.", labels=["result"]
        )
        for result, count in sorted(counters.corrections.items()):
            corrections.add_metric([result], count)
        yield corrections
        if counters.last_success is not None:
            yield GaugeMetricFamily(
                prefix + "last_success_timestamp_seconds",
                "Unix time the last successful pass ended.",
                value=counters.last_success,
            )
        if counters.last_duration is not None:
            yield GaugeMetricFamily(
                prefix + "pass_duration_seconds",
                "How long the last pass took, in seconds.",
                value=counters.last_duration,
            )
        if counters.revision is not None:
            info = GaugeMetricFamily(
                prefix + "revision_info", metrics.REVISION_HELP, labels=["revision"]
            )
            info.add_metric([counters.revision], 1)
            yield info

    def render(self) -> tuple[str, bytes]:
        """(content type, body) for one scrape."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return CONTENT_TYPE_LATEST, generate_latest(self._registry)
