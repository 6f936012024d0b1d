"""Wrapping a gRPC method handler so that something runs around every call."""
from __future__ import annotations

import grpc


def around_calls(handler: grpc.RpcMethodHandler, guard) -> grpc.RpcMethodHandler:
    """`handler` with `guard(context)` (a context manager) entered around each unary call and
    around the whole of each stream. Other handler shapes are returned unchanged."""
    if handler.unary_unary:
        inner = handler.unary_unary

        def unary(request, context):
            with guard(context):
                return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.stream_stream:
        inner_stream = handler.stream_stream

        def stream(requests, context):
            with guard(context):
                yield from inner_stream(requests, context)

        return grpc.stream_stream_rpc_method_handler(
            stream, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    return handler
