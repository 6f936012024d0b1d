"""Conversions between protobuf messages and the engine's values, in one place."""
from __future__ import annotations

from datetime import datetime, timezone

from dedup.article import Article
from dedup.engine import ClusterView, Result
from dedup.errors import InvalidArticle
from dedup.inputs import Page
from dedup.v1 import dedup_pb2 as pb
from dedup.verify import EXACT, NEAR_DUPLICATE, REWRITE, SYNDICATED, VERSION, Match

RELATIONS = {
    None: pb.RELATION_UNSPECIFIED, EXACT: pb.EXACT, NEAR_DUPLICATE: pb.NEAR_DUPLICATE,
    SYNDICATED: pb.SYNDICATED, VERSION: pb.VERSION, REWRITE: pb.REWRITE,
}
# Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799
DEFAULT_PASSAGES = 10


def article_from_proto(msg: pb.Article) -> Article | Page:
    """The domain article for a request, or its page when it comes as HTML only (its main
    text is extracted where it is analysed, off the serving thread); raises `InvalidArticle`
    saying what to fix."""
    published = None
    if msg.HasField("published_at"):
        ts = msg.published_at
        if not (_MIN_SECONDS <= ts.seconds <= _MAX_SECONDS) or not (0 <= ts.nanos < 1_000_000_000):
            raise InvalidArticle(
                f"article {msg.id!r}: published_at is out of range (seconds {ts.seconds}, nanos {ts.nanos}); "
                "give a time between years 1 and 9999"
            )
        published = datetime.fromtimestamp(ts.seconds, tz=timezone.utc).replace(microsecond=ts.nanos // 1000)
    fields = dict(title=msg.title, source=msg.source, published_at=published, metadata=dict(msg.metadata))
    if not msg.text.strip() and msg.html.strip():
        return Page(f"article {msg.id!r}", msg.id, msg.html, fields)
    return Article(id=msg.id, text=msg.text, **fields)


def article_to_proto(article: Article) -> pb.Article:
    msg = pb.Article(id=article.id, text=article.text, title=article.title, source=article.source,
                     metadata=dict(article.metadata))
    if article.published_at is not None:
        msg.published_at.FromDatetime(article.published_at.astimezone(timezone.utc))
    return msg


def result_to_proto(result: Result, texts: dict[str, str] | None = None, max_passages: int = 0) -> pb.Result:
    """`texts` maps this article's id to its text, so passages carry the shared text."""
    limit = max_passages or DEFAULT_PASSAGES
    text = (texts or {}).get(result.id, "")
    return pb.Result(
        id=result.id, added=result.added, cluster=result.cluster, cluster_size=result.cluster_size,
        story=result.story, story_size=result.story_size, canonical=result.canonical,
        story_canonical=result.story_canonical, relation=RELATIONS[result.relation],
        similarity=result.similarity, matches=[match_to_proto(m, text, limit) for m in result.matches],
    )


def match_to_proto(match: Match, text: str, max_passages: int) -> pb.Match:
    passages = sorted(match.passages, key=lambda p: -p.tokens)[:max_passages]
    return pb.Match(
        id=match.b, relation=RELATIONS[match.relation], similarity=match.similarity, jaccard=match.jaccard,
        containment=match.containment_a, other_containment=match.containment_b, own_words=match.own_words,
        story=match.story, shared_words=match.shared_tokens,
        passages=[
            pb.SharedPassage(start=p.a_start, end=p.a_end, other_start=p.b_start, other_end=p.b_end,
                             words=p.tokens, text=text[p.a_start:p.a_end])
            for p in sorted(passages, key=lambda p: p.a_start)
        ],
    )


def cluster_to_proto(view: ClusterView, members: list[tuple[Article, Result | None]]) -> pb.GetClusterResponse:
    out = pb.GetClusterResponse(cluster=view.id, canonical=view.canonical)
    for article, result in members:
        member = out.members.add(id=article.id, source=article.source)
        if article.published_at is not None:
            member.published_at.FromDatetime(article.published_at.astimezone(timezone.utc))
        if result is not None:
            member.relation = RELATIONS[result.relation]
            member.similarity = result.similarity
    return out
