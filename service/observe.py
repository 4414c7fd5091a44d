"""What an operator sees of a running service: one JSON line per request, and counters in Prometheus' text
format at /metrics.

Each worker process counts its own requests (the ``worker`` label is its process id): a scrape of a
service with several workers reaches one of them, so sum the series over ``worker``, or scrape each.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid

from fastapi import Request

ACCESS = logging.getLogger("rules.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Request counts and durations of this process, by method, route and status."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict = {}  # (method, route, status) -> count
        self.seconds: dict = {}  # route -> [count per bucket..., +Inf count, sum]

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        with self.lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            row = self.seconds.setdefault(route, [0] * (len(BUCKETS) + 1) + [0.0])
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[index] += 1
            row[len(BUCKETS)] += 1
            row[-1] += seconds

    def render(self) -> str:
        worker = os.getpid()
        lines = ["# HELP rules_http_requests_total Requests answered, by method, route and status.",
                 "# TYPE rules_http_requests_total counter"]
        with self.lock:
            for (method, route, status), count in sorted(self.requests.items()):
                lines.append(f'rules_http_requests_total{{method="{method}",route="{_label(route)}",status="{status}",'
                             f'worker="{worker}"}} {count}')
            lines += ["# HELP rules_http_request_duration_seconds Time to answer, by route.",
                      "# TYPE rules_http_request_duration_seconds histogram"]
            for route, row in sorted(self.seconds.items()):
                labels = f'route="{_label(route)}",worker="{worker}"'
                for bound, count in zip(BUCKETS, row):
                    lines.append(f'rules_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}')
                lines.append(f'rules_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {row[len(BUCKETS)]}')
                lines.append(f"rules_http_request_duration_seconds_sum{{{labels}}} {row[-1]:.6f}")
                lines.append(f"rules_http_request_duration_seconds_count{{{labels}}} {row[len(BUCKETS)]}")
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def add_observing(app, metrics: Metrics) -> None:
    """Time every request, log it as one JSON line, count it, and answer with its X-Request-Id."""
    @app.middleware("http")
    async def observe(request: Request, call_next):
        given = request.headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            seconds = time.perf_counter() - start
            route = getattr(request.scope.get("route"), "path", None) or "(no route)"
            metrics.add(request.method, route, status, seconds)
            ACCESS.info(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": request_id,
                                    "method": request.method, "route": route, "status": status,
                                    "ms": round(seconds * 1000, 1)}, separators=(",", ":")))
