"""The personalization API's Prometheus metrics (prometheus-client), served at ``GET /metrics``
in the text format:

- ``personastream_api_requests_total{endpoint,method,status}``: requests answered; the errors
  are its 5xx ``status`` values (a handler that raised counts as 500);
- ``personastream_api_request_seconds{endpoint,method}``: their latency, from the request's
  arrival to the answer's last byte (buckets 1 ms to 2.5 s).
- ``personastream_api_gc_pause_seconds{generation}``: pauses of Python's cyclic garbage
  collector (every request of the worker waits), from :func:`time_collections`.

``endpoint`` is the route's template (``/v1/users/{user_key}/profile``), never the raw path,
and ``other`` for a path no route matches; ``method`` is ``other`` beyond the usual seven.

Under ``personastream serve`` each worker writes its metrics to files in the directory named by
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode; the command empties it
before the workers start, whatever their number) and ``/metrics`` adds up every worker's, those
of workers that exited included, as counters must (there is no live gauge, the only metric
``mark_process_dead`` cleans up; uvicorn has no hook to call it); without it (an app a test
made) they are this process's.

>>> RequestMetrics.method_label("GET"), RequestMetrics.method_label("BREW")
('GET', 'other')
"""
import gc
import os
import time
from typing import Sequence

from fastapi.routing import APIRoute
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import BaseRoute, Match

REQUESTS = Counter("personastream_api_requests", "Requests the API answered.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("personastream_api_request_seconds",
                    "Time from a request's arrival to its answer's last byte.",
                    ["endpoint", "method"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
GC_PAUSE = Histogram("personastream_api_gc_pause_seconds",
                     "Pauses of the worker's cyclic garbage collector, by generation.",
                     ["generation"],
                     buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5))
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _registry() -> CollectorRegistry:
    # prometheus-client chose multiprocess mode by this variable when first imported
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


_SERVED = _registry()


def exposition() -> bytes:
    """Every metric in Prometheus' text format: all workers' (multiprocess mode), else this
    process's."""
    return generate_latest(_SERVED)


_collection_started = [0.0]


def _observe_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _collection_started[0] = time.perf_counter()
    else:
        GC_PAUSE.labels(str(info["generation"])).observe(
            time.perf_counter() - _collection_started[0])


def time_collections() -> None:
    """Observe every garbage collection of this process into :data:`GC_PAUSE` (once per
    process; later calls do nothing).

    >>> time_collections(); time_collections(); _ = gc.collect(0)
    >>> gc.callbacks.count(_observe_collection)
    1
    >>> REGISTRY.get_sample_value("personastream_api_gc_pause_seconds_count",
    ...                           {"generation": "0"}) > 0
    True
    """
    if _observe_collection not in gc.callbacks:
        for generation in range(len(gc.get_count())):  # each series from the start, 0 if none
            GC_PAUSE.labels(str(generation))
        gc.callbacks.append(_observe_collection)


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request to ``app`` (put it outermost, so
    that a middleware answering by itself is measured too). The endpoint is the route recorded
    in the scope (by FastAPI's router for the API routes among ``routes``, or by a middleware
    answering for one), else the first of the others matching the path (documentation pages,
    static files), else ``other``."""

    def __init__(self, app, routes: Sequence[BaseRoute]):
        self.app = app
        self.unrecorded = [r for r in routes if not isinstance(r, APIRoute)]
        self.series: dict[tuple, tuple] = {}  # labels -> (counter, histogram): labels() once

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, path, root_path = time.perf_counter(), scope["path"], scope.get("root_path", "")
        status = 500  # unless the app starts an answer

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            endpoint = route.path_format if route is not None else self.matching(
                {"type": "http", "path": path, "root_path": root_path, "method": scope["method"]})
            method = self.method_label(scope["method"])
            series = self.series.get((endpoint, method, status))
            if series is None:
                series = self.series[endpoint, method, status] = (
                    REQUESTS.labels(endpoint, method, str(status)),
                    LATENCY.labels(endpoint, method))
            series[0].inc()
            series[1].observe(seconds)

    def matching(self, scope: dict) -> str:
        """The template of the first route the router does not record matching ``scope``,
        else ``other``."""
        return next((r.path_format for r in self.unrecorded
                     if r.matches(scope)[0] is not Match.NONE), OTHER)

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in METHODS else OTHER
