"""Building, starting and stopping the gRPC server."""
from __future__ import annotations

import contextlib
import gc
import hmac
import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dedup.index import Index
from dedup.service.interceptors import around_calls
from dedup.service.metrics import Metrics, MetricsInterceptor
from dedup.service.servicer import DedupServicer
from google.protobuf.message import DecodeError

from dedup.v1 import dedup_pb2

log = logging.getLogger("dedup.service")
SERVICE_NAME = dedup_pb2.DESCRIPTOR.services_by_name["Dedup"].full_name
_OPEN_METHODS = ("/grpc.health.v1.Health/",)  # probes need no token and take no call slot
_HEADROOM = 8


@dataclass(frozen=True)
class ServerSettings:
    """How the server listens and protects itself."""

    address: str = "127.0.0.1:50051"
    workers: int = 16  # threads serving calls (at least max_concurrent_rpcs + a few)
    max_concurrent_rpcs: int = 64  # dedup calls in progress beyond which new ones get RESOURCE_EXHAUSTED
    max_message_bytes: int = 16 * 1024 * 1024  # larger requests get RESOURCE_EXHAUSTED
    token: str | None = None  # bearer token required on every call (except health)
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    grace_seconds: float = 10.0
    metrics_port: int | None = None  # serve Prometheus /metrics on 127.0.0.1:PORT (0: any free port)


class _TokenAuth(grpc.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` metadata."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token in 'authorization' metadata")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(lambda it, context: deny(None, context))

    def intercept_service(self, continuation, details):
        if details.method.startswith(_OPEN_METHODS):
            return continuation(details)
        sent = dict(details.invocation_metadata).get("authorization", "")
        if hmac.compare_digest(sent.encode(), self._expected):
            return continuation(details)
        return self._deny_stream if details.method.endswith("Stream") else self._deny


def _dedup_handlers(servicer: DedupServicer) -> grpc.GenericRpcHandler:
    """The Dedup service's handlers, decoding requests themselves so that a message that is not
    valid protobuf gets INVALID_ARGUMENT (grpc's own decoding answers INTERNAL)."""
    service = dedup_pb2.DESCRIPTOR.services_by_name["Dedup"]
    handlers = {}
    for method in service.methods:
        request_type = getattr(dedup_pb2, method.input_type.name)
        response_type = getattr(dedup_pb2, method.output_type.name)
        behaviour = getattr(servicer, method.name)
        if method.client_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                _decoding_stream(behaviour, request_type), response_serializer=response_type.SerializeToString)
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _decoding_unary(behaviour, request_type), response_serializer=response_type.SerializeToString)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _decode(request_type, raw: bytes, context):
    try:
        return request_type.FromString(raw)
    except DecodeError:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"the request is not a valid {request_type.DESCRIPTOR.full_name} message")


def _decoding_unary(behaviour, request_type):
    def handle(raw: bytes, context):
        return behaviour(_decode(request_type, raw, context), context)
    return handle


def _decoding_stream(behaviour, request_type):
    def handle(raw_requests, context):
        return behaviour((_decode(request_type, raw, context) for raw in raw_requests), context)
    return handle


class _ConcurrencyLimit(grpc.ServerInterceptor):
    """Refuses dedup calls beyond `limit` in progress with RESOURCE_EXHAUSTED, at once.

    Health checks are exempt, so an overloaded server still reports itself SERVING.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def _refuse(self, context) -> None:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      f"the server is at its limit of {self.limit} calls in progress; retry with backoff")

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(_OPEN_METHODS) or "Reflection" in details.method:
            return handler
        return around_calls(handler, self._slot)

    @contextlib.contextmanager
    def _slot(self, context):
        if not self._slots.acquire(blocking=False):
            self._refuse(context)
        try:
            yield
        finally:
            self._slots.release()


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    index: Index
    metrics_port: int | None = None

    def stop(self, grace: float | None = None) -> None:
        """Health to NOT_SERVING, let in-flight calls finish, then flush and close the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.index.close()


def build_server(index: Index, settings: ServerSettings) -> RunningServer:
    """A configured server bound to ``settings.address`` (port 0 picks a free one); not started."""
    interceptors = []
    metrics = None
    if settings.metrics_port is not None:
        metrics = Metrics(lambda: len(index.engine))
        interceptors.append(MetricsInterceptor(metrics))
    if settings.token:
        interceptors.append(_TokenAuth(settings.token))
    interceptors.append(_ConcurrencyLimit(settings.max_concurrent_rpcs))
    # Threads for every admitted call plus headroom for health checks and refusals; grpc's own
    # cap bounds the queue behind them, so overload never queues without limit.
    threads = max(settings.workers, settings.max_concurrent_rpcs + _HEADROOM)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dedup-rpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=threads + _HEADROOM,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((_dedup_handlers(DedupServicer(index)),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (SERVICE_NAME, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    try:
        if settings.tls_cert and settings.tls_key:
            credentials = grpc.ssl_server_credentials([(settings.tls_key, settings.tls_cert)])
            port = server.add_secure_port(settings.address, credentials)
        else:
            port = server.add_insecure_port(settings.address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {settings.address}: the address is in use or not available here")
    metrics_port = metrics.serve(settings.metrics_port) if metrics else None
    return RunningServer(server, port, health_servicer, index, metrics_port)


def serve(index: Index, settings: ServerSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    # The index is millions of long-lived objects; a full collection walks them all and stalls
    # every call for tens of milliseconds. Freeze what the start-up loaded and collect the young
    # generation less often (the engine creates few reference cycles).
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    running = build_server(index, settings)
    running.server.start()
    log.info("dedup serving %s on port %d (store %s, %d articles)", SERVICE_NAME, running.port,
             index.describe_store(), len(index.engine))
    if running.metrics_port:
        log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", running.metrics_port)
    stopping = threading.Event()

    def on_signal(signum, frame):
        log.info("received %s; shutting down (grace %.0f s)", signal.Signals(signum).name, settings.grace_seconds)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    running.stop(settings.grace_seconds)
    log.info("stopped; store flushed")
