"""Prometheus metrics of the proxy, on a registry of its own (several apps in one process stay apart).

With several uvicorn workers each process counts its own requests unless PROMETHEUS_MULTIPROC_DIR is set, in
which case `psychosafe serve --workers N` sets it up and /metrics aggregates across workers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("psychosafe_requests", "Requests handled, by endpoint, action and domain",
                                ["endpoint", "action", "domain", "status"], registry=self.registry)
        self.latency = Histogram("psychosafe_request_seconds", "Time to the full response, by endpoint and action",
                                 ["endpoint", "action"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.overhead = Histogram("psychosafe_guard_seconds", "Time spent in the guard itself (assess, decide, "
                                  "screen, compose, verify), upstream excluded", ["endpoint"],
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_errors = Counter("psychosafe_upstream_errors", "Upstream failures, by kind",
                                       ["kind"], registry=self.registry)
        self.fallbacks = Counter("psychosafe_fallbacks", "Risky turns answered by the composer after a failure",
                                 registry=self.registry)
        self.cut_overs = Counter("psychosafe_stream_cut_overs", "Answers withheld because the model went into "
                                 "harmful specifics", registry=self.registry)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
