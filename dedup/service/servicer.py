"""The Dedup servicer: decode the request, call the index, encode the answer."""
from __future__ import annotations

import logging
import queue
import threading

import grpc

from dedup.errors import DedupError, RequestExpired
from dedup.index import Index
from dedup.service import convert
from dedup.service.errors import INTERNAL_MESSAGE, status_of, unary
from dedup.v1 import dedup_pb2 as pb
from dedup.v1 import dedup_pb2_grpc as pb_grpc

log = logging.getLogger("dedup.service")

# AddStream commits whatever has arrived, up to this many articles, with one durable write.
STREAM_BATCH = 128
_END = object()


class DedupServicer(pb_grpc.DedupServicer):
    def __init__(self, index: Index) -> None:
        self.index = index

    @unary
    def Check(self, request: pb.CheckRequest, context) -> pb.CheckResponse:
        article = convert.article_from_proto(request.article)
        result, text = self.index.check(article)
        return pb.CheckResponse(result=convert.result_to_proto(result, {article.id: text}, request.max_passages))

    @unary
    def Add(self, request: pb.AddRequest, context) -> pb.AddResponse:
        article = convert.article_from_proto(request.article)
        result = self.index.add(article, replace=request.replace, before_commit=_deadline_guard(context))
        return pb.AddResponse(result=self._result(result, request.max_passages))

    def AddStream(self, request_iterator, context):
        pending: queue.Queue = queue.Queue(maxsize=4 * STREAM_BATCH)
        reader = threading.Thread(target=_drain, args=(request_iterator, pending), daemon=True)
        reader.start()
        guard = _deadline_guard(context)
        batch, current = _take(pending), None
        try:
            while True:
                if current is None:
                    if not isinstance(batch, list):
                        break  # the end of the stream, or the error that ended it
                    current = self._start_batch(batch)
                # The requests already waiting are analysed while this batch is indexed.
                batch = _take(pending, wait=False)
                ahead = self._start_batch(batch) if isinstance(batch, list) and batch else None
                yield from self._finish_batch(current, guard)
                current = ahead
                if current is None and batch == []:
                    batch = _take(pending)
        except RequestExpired as exc:
            context.abort(status_of(exc), str(exc))
        except DedupError as exc:  # the store refused the whole batch
            context.abort(status_of(exc), str(exc))
        except Exception:  # noqa: BLE001
            log.exception("unexpected error in AddStream")
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        if isinstance(batch, Exception) and context.is_active():
            log.info("AddStream ended by the client: %s", batch)

    def _start_batch(self, requests: list[pb.AddRequest]) -> tuple:
        """Decode a batch and start analysing it: one `Analysing` per value of the replace
        flag (each is one `add_many`), and the answers of requests that could not be decoded."""
        articles, responses = [], {}
        for i, request in enumerate(requests):
            try:
                articles.append((i, convert.article_from_proto(request.article)))
            except DedupError as exc:
                responses[i] = pb.AddStreamResponse(id=request.article.id, error_code=status_of(exc).value[0],
                                                    error_message=str(exc))
        groups = []
        for replace in (False, True):
            group = [(i, a) for i, a in articles if requests[i].replace == replace]
            if group:
                groups.append((replace, [i for i, _ in group], self.index.analyse_ahead([a for _, a in group])))
        return requests, groups, responses

    def _finish_batch(self, started: tuple, guard):
        requests, groups, responses = started
        for replace, positions, analysing in groups:
            outcomes = self.index.add_many(analysing, replace=replace, before_commit=guard)
            for i, outcome in zip(positions, outcomes):
                if outcome.error is not None:
                    responses[i] = pb.AddStreamResponse(id=outcome.id, error_code=status_of(outcome.error).value[0],
                                                        error_message=str(outcome.error))
                else:
                    responses[i] = pb.AddStreamResponse(
                        id=outcome.id, result=self._result(outcome.result, requests[i].max_passages))
        for i in range(len(requests)):
            yield responses[i]

    @unary
    def Get(self, request: pb.GetRequest, context) -> pb.GetResponse:
        result, article = self.index.get(request.id)
        return pb.GetResponse(result=self._result(result, 0), article=convert.article_to_proto(article))

    @unary
    def Delete(self, request: pb.DeleteRequest, context) -> pb.DeleteResponse:
        self.index.delete(request.id)
        return pb.DeleteResponse()

    @unary
    def GetCluster(self, request: pb.GetClusterRequest, context) -> pb.GetClusterResponse:
        level = "story" if request.level == pb.STORY else "copy"
        view = self.index.cluster(request.id, level)
        members = []
        for member_id in view.members:
            result, article = self.index.get(member_id)
            relation = self.index.engine.relation_to(member_id, view.canonical) if member_id != view.canonical else None
            members.append((article, _member_result(result, relation)))
        return convert.cluster_to_proto(view, members)

    @unary
    def Stats(self, request: pb.StatsRequest, context) -> pb.StatsResponse:
        stats = self.index.stats()
        return pb.StatsResponse(
            articles=stats["articles"], copy_clusters=stats["copy_clusters"], story_clusters=stats["story_clusters"],
            matches=stats["matches"], index_bytes=stats["index_bytes"], store=stats["store"],
            config_json=self.index.config.to_json(),
        )

    def _result(self, result, max_passages: int) -> pb.Result:
        text = self.index.engine.document(result.id).text
        return convert.result_to_proto(result, {result.id: text}, max_passages)


def _member_result(result, relation):
    if relation is None:
        return result.__class__(**{**result.__dict__, "relation": None, "similarity": 1.0})
    return result.__class__(**{**result.__dict__, "relation": relation.relation, "similarity": relation.similarity})


def _deadline_guard(context):
    def check() -> None:
        remaining = context.time_remaining()
        if not context.is_active() or (remaining is not None and remaining <= 0):
            raise RequestExpired("the deadline passed (or the call was cancelled) before the article was stored; "
                                 "nothing was changed")
    return check


def _drain(requests, pending: queue.Queue) -> None:
    try:
        for request in requests:
            pending.put(request)
        pending.put(_END)
    except Exception as exc:  # noqa: BLE001 - a cancelled stream ends the iterator with an error
        pending.put(exc)


def _take(pending: queue.Queue, wait: bool = True):
    """The requests that have arrived, up to STREAM_BATCH: at least one when `wait`, else
    possibly none (an empty list).

    Returns None at the end of the stream, or the exception that ended it.
    """
    try:
        first = pending.get() if wait else pending.get_nowait()
    except queue.Empty:
        return []
    if first is _END:
        return None
    if isinstance(first, Exception):
        return first
    batch = [first]
    while len(batch) < STREAM_BATCH:
        try:
            item = pending.get_nowait()
        except queue.Empty:
            break
        if item is _END or isinstance(item, Exception):
            pending.put(item)  # seen again on the next call
            break
        batch.append(item)
    return batch
