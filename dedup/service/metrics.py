"""Prometheus metrics: calls and latency per RPC and status code, and the index size."""
from __future__ import annotations

import contextlib
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from dedup.service.interceptors import around_calls

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per server, so tests and several servers in a process do not collide."""

    def __init__(self, articles: callable) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("dedup_rpc_calls", "RPCs handled, by method and status code",
                             ["method", "code"], registry=self.registry)
        self.latency = Histogram("dedup_rpc_seconds", "RPC latency, by method and status code",
                                 ["method", "code"], buckets=_BUCKETS, registry=self.registry)
        self.articles = Gauge("dedup_index_articles", "Articles in the index", registry=self.registry)
        self.articles.set_function(articles)

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Expose /metrics over HTTP; returns the bound port."""
        server, _ = start_http_server(port, addr=address, registry=self.registry)
        return server.server_port

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.calls.labels(method, code.name).inc()
        self.latency.labels(method, code.name).observe(seconds)


class MetricsInterceptor(grpc.ServerInterceptor):
    """Times every unary call and every stream, and counts them by final status code."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method.rsplit("/", 1)[-1]
        observe = self.metrics.observe

        @contextlib.contextmanager
        def timed(context):
            started = time.perf_counter()
            try:
                yield
            except BaseException:
                observe(method, _code(context, grpc.StatusCode.UNKNOWN), time.perf_counter() - started)
                raise
            observe(method, _code(context, grpc.StatusCode.OK), time.perf_counter() - started)

        return around_calls(handler, timed)


def _code(context, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else default
