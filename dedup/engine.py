"""The engine: index articles one at a time and answer what each one copies.

`Engine.add` analyses an article, finds candidates through three LSH indexes (whole bodies,
passages, story terms), verifies every candidate exactly, records the matches and updates the
copy and story clusters. `Engine.check` does the same without indexing. A batch run is the
same sequence of `add` calls, so both give the same clusters.

Thread-safe: one lock serialises changes and reads of the index.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple
from dataclasses import dataclass

import numpy as np
import xxhash

from dedup.analysis import Analyzer, Document
from dedup.article import Article, check_id
from dedup.boilerplate import BODY
from dedup.clusters import COPY_LEVEL, STORY_LEVEL, Partition, cluster_component
from dedup.config import Config
from dedup.documents import DocumentTable, FileReference, SpilledTable
from dedup.edges import Edge, EdgeStore
from dedup import lsh
from dedup.errors import ConflictingArticle, IndexFull, UnknownArticle
from dedup.lsh import BandIndex
from dedup.nodetable import NodeTable
from dedup.commonness import CommonBlocks, CommonTerms, any_flagged
from dedup.verify import (NEAR_DUPLICATE, RELATIONS, REWRITE, SYNDICATED, VERSION, Match, StoredMatch, compare,
                          related_stored, specific_share, story_similarity, worth_verifying)

_RANK = {rel: i for i, rel in enumerate(RELATIONS)}
# The share of one document's specific story terms found in another at which it tells the
# other's story whatever their cosine (`Engine._same_story`): on the synthetic corpus the
# teasers of a story hold all of theirs; 0.6 to 0.95 give the same clusters.
_CONTAINED_STORY = 0.8
# Candidates proposed by story terms alone that are verified per article, best first.
_STORY_CANDIDATES = 16
# Containment candidates: each article is also indexed under its heaviest story terms (its
# rarest words: names, places), and an article proposes every indexed one, at most half its
# size, all of whose terms it holds among its own heaviest. A stub that a later revision ten
# times its size took in, every passage edited, shares too little of that revision's text for
# the body and passage bands and too little of its terms for the story bands; it keeps its
# rarest words. Two anchors, not one: one is a name many articles mention.
_ANCHOR_TERMS = 2
_ANCHOR_QUERY_TERMS = 256
# A review of the matches resting on story terms just turned common goes through at least
# this many matches per add (a small index's review ends in the add that started it; 512 left
# an open loop of `Add`s at 200/s a p99 of 32-48 ms, 64 and 128 one of 16-18 ms), and
# ends within this share of the collection's size in adds (the next is due when it has grown
# by a tenth, `CommonTerms.GROWTH`). Done at once, a review stalled every add behind it for
# a pass over all the matches: ~25 ms at 9,000 articles, seconds at a million.
_REVIEW_SLICE = 128
_REVIEW_SPREAD = 0.05


@dataclass(frozen=True)
class Result:
    """The answer for one article: its clusters, their originals, and its matches."""

    id: str
    added: bool  # False for a check, or for an article already indexed with the same text
    cluster: str  # copy cluster id (the id of its canonical article)
    cluster_size: int
    story: str  # story cluster id (the id of its canonical article)
    story_size: int
    canonical: str  # canonical article of the copy cluster
    story_canonical: str
    relation: str | None  # this article against `canonical` (None when it is the canonical)
    similarity: float
    matches: tuple[Match, ...]  # verified matches with indexed articles, strongest first


class MatchSummary(NamedTuple):
    """A match as a batch run's output line shows it: the other article, relation, score."""

    b: str
    relation: str | None
    similarity: float


class _TermReview:
    """A review of the matches that rest on story terms just turned common, spread over the
    adds that follow (`Engine._continue_review`). Its keys are those linked when it started,
    rewrites first; one unlinked since (replaced, or of a deleted article) is passed over.
    Part of the engine's pickled state, so a restored index and every replica go on with it
    at the same add."""

    def __init__(self, flipped: np.ndarray, rewrites: list[int], copies: list[int], per_add: int) -> None:
        self.flipped = flipped
        self.keys = np.array(rewrites + copies, np.int64)
        self.first_copy = len(rewrites)
        self.position = 0
        self.per_add = per_add
        self.holders: dict[int, object] = {}  # node -> its screening fields if it holds such a term, else None
        self._turned: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "holders": {}, "_turned": None}  # caches

    def turned(self, buckets: int) -> np.ndarray:
        """The flipped buckets as one bool per bucket."""
        if self._turned is None:
            self._turned = np.zeros(buckets, bool)
            self._turned[self.flipped] = True
        return self._turned


@dataclass(frozen=True)
class Summary:
    """`Result` without the matches' scores and passages: what `dedup cluster` writes for an
    article, read from the index's match records without decoding their passages."""

    id: str
    cluster: str
    cluster_size: int
    story: str
    story_size: int
    canonical: str
    story_canonical: str
    relation: str | None
    similarity: float
    matches: tuple[MatchSummary, ...]  # strongest first, as `Result.matches`


@dataclass(frozen=True)
class ClusterView:
    """Members of one cluster, canonical first, then in arrival order."""

    id: str
    level: str  # "copy" or "story"
    canonical: str
    members: tuple[str, ...]


class Engine:
    """An in-memory index of analysed articles, their matches and clusters."""

    _review: _TermReview | None = None  # a review of newly common terms under way

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.analyzer = Analyzer(self.config)
        cfg = self.config
        self._doc_index = BandIndex()
        self._passage_index = BandIndex()
        self._story_index = BandIndex()
        self._anchor_index = BandIndex()
        self._docs = DocumentTable()
        self._ids = NodeTable()  # hash of each article id -> its node (see `node_of`)
        self._bodies = NodeTable()  # body hash -> the nodes with that body
        # Every verified match, once; each level links those of its relations.
        self._edges = EdgeStore(self._id_of, cfg.min_shared_tokens)
        self.copies = Partition(self._edges.level(COPY_LEVEL), self._page_chars)
        # Every relation links stories, so the story level links every stored match.
        self.stories = Partition(self._edges.level(STORY_LEVEL), self._page_chars)
        self._common = CommonBlocks(cfg.common_block_documents, self._same_story)
        self._common_terms = CommonTerms(cfg.common_term_share, cfg.common_term_documents)
        self._lock = threading.RLock()

    def __getstate__(self) -> dict:
        """For snapshots: everything but the lock and the analyser's caches (rebuilt on load)."""
        with self._lock:
            self.copies.clusters(), self.stories.clusters()  # settle deferred clustering first
            state = dict(self.__dict__)
        del state["_lock"], state["analyzer"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.analyzer = Analyzer(self.config)
        self._lock = threading.RLock()

    # -- public API -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def spill_documents(self, path, durable: bool = False) -> None:
        """Keep indexed documents in a file at `path` instead of RAM, reading them back when a
        candidate is verified (see `dedup.documents`). A scratch file is unlinked at once and
        gone when the engine is closed or its process ends; a `durable` one is kept, and a
        pickled engine refers to it instead of carrying them."""
        with self._lock:
            self._docs = SpilledTable.spill(self._docs, path, durable=durable)

    def reopen_documents(self, directory, path) -> None:
        """After unpickling an engine whose documents were in a durable file in `directory`:
        open that file again, renamed to `path` (raises `OSError` if it does not fit)."""
        with self._lock:
            if isinstance(self._docs, FileReference):
                self._docs = self._docs.reopen(directory, path)

    @property
    def documents_file(self):
        """The path of the durable file holding the documents, if there is one."""
        docs = self._docs
        return docs.path if isinstance(docs, SpilledTable) and docs.durable else None

    def close(self) -> None:
        with self._lock:
            if isinstance(self._docs, SpilledTable):
                self._docs.close()

    def file_descriptors(self) -> list[int]:
        """Descriptors the engine reads through (a forked snapshot writer must keep them)."""
        return self._docs.file_descriptors() if isinstance(self._docs, SpilledTable) else []

    def __contains__(self, article_id: str) -> bool:
        return self.node_of(article_id) is not None

    def node_of(self, article_id: str) -> int | None:
        """The node number of an indexed article (as `copies` and `stories` number them)."""
        for node in self._ids.nodes(_id_hash(article_id)):
            if self._docs.id_of(node) == article_id:
                return node
        return None

    @property
    def room(self) -> int:
        """How many more articles can be indexed: each takes a new number (numbers of deleted
        articles are not reused), and the band index packs numbers below `lsh.MAX_DOCUMENTS`."""
        return lsh.MAX_DOCUMENTS - len(self._docs)

    def analyse(self, articles: Sequence[Article]) -> list[Document]:
        """Validate and analyse articles (pure; may run in another process)."""
        for a in articles:
            a.validate(self.config.max_text_bytes)
        return self.analyzer.analyse_many(articles)

    def add(self, article: Article) -> Result:
        """Index `article` and return its clusters and matches (idempotent for the same text)."""
        return self.add_document(self.analyse([article])[0])

    def check(self, article: Article) -> Result:
        """What `add` would answer, without indexing anything."""
        return self.check_document(self.analyse([article])[0])

    def add_document(self, doc: Document) -> Result:
        with self._lock:
            node, added = self._index(doc)
            return self._result(node, added=added)

    def index_document(self, doc: Document) -> bool:
        """`add_document` without building the answer: clusters are computed when next read,
        so a batch of additions pays for clustering once. Returns whether `doc` was new."""
        with self._lock:
            return self._index(doc)[1]

    def check_document(self, doc: Document) -> Result:
        with self._lock:
            existing = self.node_of(doc.id)
            if existing is not None and self._same_text(self._docs[existing], doc):
                return self._result(existing, added=False)
            matches = self._verify(doc, exclude=existing)
            return self._preview(doc, matches)

    def get(self, article_id: str, added: bool = False) -> Result:
        """The current result of an indexed article (`added` is echoed into it)."""
        with self._lock:
            return self._result(self._node(article_id), added=added)

    def summary(self, article_id: str) -> Summary:
        """`get` in brief: the clusters, and each match's other article, relation and score."""
        return next(self.summaries([article_id]))

    def summaries(self, article_ids: Iterable[str]) -> Iterator[Summary]:
        """`summary` of each of `article_ids`, in order. Each cluster's size and canonical
        article are found once for all its members (per member, a batch's output cost time
        in the square of its largest clusters); a cluster that changes meanwhile is
        renumbered, so it is found anew."""
        heads: dict = {}
        for article_id in article_ids:
            with self._lock:
                node = self._node(article_id)
                scored = self._edges.scored
                matches = [MatchSummary(self._id_of(other), *scored(key)) for other, key in self.stories.match_keys(node)]
                summary = Summary(id=self._id_of(node), matches=_strongest_first(matches),
                                  **self._placement(node, matches, heads))
            yield summary

    def document(self, article_id: str) -> Document:
        with self._lock:
            return self._docs[self._node(article_id)]

    def delete(self, article_id: str) -> None:
        """Remove an article; its clusters are rebuilt from the remaining matches."""
        with self._lock:
            node = self._node(article_id)
            doc = self._docs[node]
            for index in self.band_indexes():
                index.remove(node)
            group = self._same_body(doc.body_hash)
            was_indexed = bool(group) and group[0] == node
            if node in group:
                group.remove(node)
                self._bodies.remove(doc.body_hash, node)
            self._common.remove(node)
            self.copies.remove_node(node)
            self.stories.remove_node(node)
            self._compact_edges()
            self._ids.remove(_id_hash(article_id), node)
            self._docs.remove(node)
            if was_indexed and group:
                # Only the first of identical bodies is in the band indexes: promote the next.
                self._index_bands(group[0], self._docs[group[0]])

    def cluster(self, article_id: str, level: str = "copy") -> ClusterView:
        with self._lock:
            node = self._node(article_id)
            partition = self.copies if level == "copy" else self.stories
            members = partition.members(node)
            canonical = self._canonical(members)
            ordered = [canonical] + [m for m in sorted(members) if m != canonical]  # numbers: arrival order
            return ClusterView(
                id=self._docs.info(canonical).id,
                level=level,
                canonical=self._docs.info(canonical).id,
                members=tuple(self._docs.info(m).id for m in ordered),
            )

    def ids(self) -> list[str]:
        """Indexed article ids in arrival order."""
        with self._lock:
            return self._docs.live_ids()

    def relation_to(self, article_id: str, other_id: str) -> Match:
        """Verify one indexed article against another (for explanations and reports)."""
        with self._lock:
            a, b = self._node(article_id), self._node(other_id)
            key = self.stories.edge_key(a, b)
            return self._edges.match(key, seen_from=article_id) if key is not None else self._compare(self._docs[a], self._docs[b])

    def specific_share(self, article_id: str, other_id: str) -> float:
        """How much of what is specific to either article the other holds, in this collection
        (`verify.specific_share`): a copy needs `Config.copy_specific` of it."""
        with self._lock:
            a, b = self._docs[self._node(article_id)], self._docs[self._node(other_id)]
            return specific_share(a, b, self._common_terms.common)

    def stats(self) -> dict:
        with self._lock:
            return {
                "articles": len(self._ids),
                "copy_clusters": sum(1 for _ in self.copies.clusters()),
                "story_clusters": sum(1 for _ in self.stories.clusters()),
                "matches": self.stories.edge_count(),
                "index_bytes": sum(index.nbytes() for index in self.band_indexes()),
            }

    def band_indexes(self) -> tuple[BandIndex, ...]:
        """The candidate sources' band indexes: body, passages, story terms, anchors."""
        return self._doc_index, self._passage_index, self._story_index, self._anchor_index

    # -- internals ------------------------------------------------------------------------

    def _page_chars(self, node: int) -> int:
        return self._docs.page_chars(node)

    def _id_of(self, node: int) -> str:
        return self._docs.id_of(node)

    def _node(self, article_id: str) -> int:
        check_id(article_id)
        node = self.node_of(article_id)
        if node is None:
            raise UnknownArticle(f"no article with id {article_id!r} is indexed")
        return node

    @staticmethod
    def _same_text(a: Document, b: Document) -> bool:
        return a.text == b.text

    def _index(self, doc: Document) -> tuple[int, bool]:
        existing = self.node_of(doc.id)
        if existing is None:
            return self._insert(doc), True
        if self._same_text(self._docs[existing], doc):
            return existing, False
        raise ConflictingArticle(
            f"article {doc.id!r} is already indexed with different text; "
            "delete it first or send the new text under a new id"
        )

    def _insert(self, doc: Document) -> int:
        if self.room <= 0:
            raise IndexFull(lsh.MAX_DOCUMENTS)
        node = self._docs.append(doc)  # numbered in arrival order, never reused
        self._ids.add(_id_hash(doc.id), node)
        flipped = self._common.add(node, _body_blocks(doc))
        if flipped:
            self._reverify({n for h in flipped for n in self._common.nodes_with(h) if n != node})
        turned_common = self._common_terms.add(doc.story_terms)
        if len(turned_common):
            self._start_review(turned_common)
        reviewed = self._review is not None and self._continue_review()
        matches = self._verify(doc, exclude=node)
        group = self._same_body(doc.body_hash) if doc.n_body_tokens else []
        if not group:
            self._index_bands(node, doc)  # only the first of identical bodies is indexed
        if doc.n_body_tokens:
            self._bodies.add(doc.body_hash, node)
        keys = [self._edges.add(node, other, match) for other, match in matches.items()]
        self.copies.add_node(node)
        self.stories.add_node(node)
        self.copies.add_edges(keys)
        self.stories.add_edges(keys)
        if flipped or reviewed:
            self._compact_edges()  # reviews are what leave matches no level links
        return node

    def _compare(self, a: Document, b: Document) -> Match:
        return compare(a, b, self.config, self._common.common, self._common_terms.common)

    def _related(self, a: Document, b: Document) -> StoredMatch | None:
        return related_stored(a, b, self.config, self._common.common, self._common_terms.common)

    def _compact_edges(self) -> None:
        """Renumber the stored matches once most records are matches no level links any
        more (replaced by a review, or of deleted articles); not while a review holds keys."""
        if self._review is None and self._edges.worth_compacting():
            self.copies.clusters(), self.stories.clusters()  # settled: every merge is a live match
            renumbered = self._edges.compact()
            self.copies.renumber_edges(renumbered)
            self.stories.renumber_edges(renumbered)

    def _same_story(self, a: int, b: int) -> bool:
        """Whether two documents holding one block tell the same story (so the block is not
        boilerplate for them): their story terms are alike, at the plain rewrite threshold, not
        the one raised for short texts; or what is specific to one of them is all but all in
        the other. A teaser page reprinting a story's lede holds a small part of the story's
        terms, so the cosine of the two stays low, yet beyond the words the collection shows
        everywhere (the site's pitch) it holds nothing the story does not."""
        x, y = self._docs[a], self._docs[b]
        return (story_similarity(x, y) >= self.config.rewrite
                or specific_share(x, y, self._common_terms.common) >= _CONTAINED_STORY)

    def _start_review(self, flipped: np.ndarray) -> None:
        """Review the matches that rest on story terms now that those in buckets `flipped` are
        common: drop the rewrites no longer alike in their specific terms, and verify again
        the copies (but exact ones) whose sides no longer share enough of what is specific to
        either (`Config.copy_specific`); the rest of a match does not change.

        Both similarities fall only where the two documents share such a term (a term only
        one of them holds leaves its weight, which raises them), so only pairs that both hold
        one are compared. Pairs found unrelated before are not compared again: a review
        changes what later comparisons find, not what earlier ones missed. The matches are
        gone through over the adds that follow (`_REVIEW_SLICE`); one still under way ends
        first."""
        self.finish_review()
        rewrites = self.stories.keys_of(REWRITE)  # rewrites link stories only: the copy level has none
        copies = [key for relation in (NEAR_DUPLICATE, SYNDICATED, VERSION) for key in self.copies.keys_of(relation)]
        adds = max(1, int(len(self) * _REVIEW_SPREAD))
        per_add = max(_REVIEW_SLICE, -(-(len(rewrites) + len(copies)) // adds))
        self._review = _TermReview(flipped, rewrites, copies, per_add)

    def finish_review(self) -> None:
        """Go through the rest of a review under way at once."""
        with self._lock:
            if self._review is not None and self._continue_review(everything=True):
                self._compact_edges()

    def _continue_review(self, everything: bool = False) -> bool:
        """The next `per_add` matches of the review under way (all that are left with
        `everything`); whether that ended it."""
        review = self._review
        docs, common, cfg = self._docs, self._common_terms.common, self.config
        turned = review.turned(len(common))
        holders = review.holders

        def holding(nodes: list[int]) -> np.ndarray:
            """Whether each of `nodes` holds a term just turned common (its screening fields
            kept in `holders` if so, None if not)."""
            for node in nodes:
                if node not in holders:
                    screening = docs.screening(node)
                    holders[node] = screening if any_flagged(screening.story_terms, turned) else None
            return np.array([holders[node] is not None for node in nodes], bool)

        start = review.position
        end = len(review.keys) if everything else min(len(review.keys), start + review.per_add)
        keys = review.keys[start:end]
        rewrites = max(0, min(review.first_copy, end) - start)  # the slice's first keys are rewrites
        us, vs = self._edges.ends_of(keys)
        # Only a pair whose two sides both hold such a term can fall; one side is looked at
        # first, the other only where the first holds one.
        at = np.flatnonzero(np.concatenate([self.stories.links_of(keys[:rewrites]),
                                            self.copies.links_of(keys[rewrites:])]))
        at = at[holding(us[at].tolist())]
        at = at[holding(vs[at].tolist())]
        stale, unsure = [], set()
        for i, key, u, v in zip(at.tolist(), keys[at].tolist(), us[at].tolist(), vs[at].tolist()):
            a, b = holders[u], holders[v]
            if i < rewrites:
                if story_similarity(a, b, common) < cfg.rewrite_specific:
                    stale.append(key)
            elif specific_share(a, b, common) < cfg.copy_specific:
                unsure.add(max(u, v))  # the side that verified the pair
        review.position = end
        self.stories.remove_edges(stale)
        if unsure:
            self._reverify(unsure)
        if end < len(review.keys):
            return False
        self._review = None
        return True

    def _reverify(self, nodes: set[int]) -> None:
        """Verify the matches of `nodes` again after blocks they contain became common (a
        pair of two such nodes once: the second finds the first's fresh match)."""
        done: set[int] = set()
        for node in sorted(nodes):
            doc = self._docs[node]
            keys = []
            for other, key in self.stories.match_keys(node):
                if other in done:
                    keys.append(key)
                    continue
                match = self._related(doc, self._docs[other])
                if match is not None:
                    # Recorded from the side it was verified from, as the first time.
                    keys.append(self._edges.add(node, other, match))
            done.add(node)
            self.copies.replace_edges(node, keys)
            self.stories.replace_edges(node, keys)

    def _index_bands(self, node: int, doc: Document) -> None:
        if len(doc.shingles):
            self._doc_index.add(node, doc.band_keys)
            self._passage_index.add(node, doc.passage_band_keys)
        if len(doc.story_terms):
            self._story_index.add(node, doc.story_band_keys)
            self._anchor_index.add(node, _heaviest_terms(doc, _ANCHOR_TERMS))

    def _candidates(self, doc: Document, exclude: int | None) -> tuple[list[int], set[int]]:
        """Candidates ranked by weighted band hits, and those that share text (not only story terms)."""
        found: list[tuple[np.ndarray, np.ndarray]] = []  # (nodes, weighted hits) per source
        if doc.n_body_tokens:
            first = self._same_body(doc.body_hash)[:1]
            if first:
                found.append((np.array(first, np.uint32), np.array([1 << 20])))
        if len(doc.shingles):
            nodes, n = self._doc_index.query(doc.band_keys)
            found.append((nodes, 4 * n))
            keys = doc.passage_band_keys
            common = self._common.common
            if common and not common.isdisjoint(doc.block_hashes.tolist()):
                # Passages inside common blocks would propose every page with the same chrome.
                blocks = doc.block_hashes[doc.shingle_blocks[doc.passage_starts]]
                keys = keys[[h not in common for h in blocks.tolist()]]
            nodes, n = self._passage_index.query(keys)
            found.append((nodes, 2 * n))
        textual = len(found)
        if len(doc.story_terms):
            found.append(self._story_index.query(doc.story_band_keys, self.config.story_bucket_limit))
            nodes, n = self._anchor_index.query(_heaviest_terms(doc, _ANCHOR_QUERY_TERMS),
                                                self.config.story_bucket_limit)
            if len(nodes):
                # All of an article's anchors, not one of them; and only articles at most half
                # this one's size: a stub it took in along with more.
                chars, size = self._docs.body_chars, doc.body_chars
                held = [i for i in np.flatnonzero(n >= _ANCHOR_TERMS).tolist() if 2 * chars(int(nodes[i])) <= size]
                if held:
                    found.append((nodes[held], n[held]))
        if not found:
            return [], set()
        return lsh.rank_candidates(found, textual, exclude, _STORY_CANDIDATES, self.config.max_candidates,
                                   self._docs.body_hash_table(), self._docs.id_of)

    def _verify(self, doc: Document, exclude: int | None) -> dict[int, StoredMatch]:
        out = {}
        ranked, textual = self._candidates(doc, exclude)
        story_only = [node for node in ranked if node not in textual]
        skip = set()
        if story_only:
            # Most story-only candidates fail this screen: read only what it needs of them.
            worth = worth_verifying(doc, self._docs.screening_records(story_only), self.config, self._common_terms.common)
            skip = {story_only[i] for i in np.flatnonzero(~worth).tolist()}
        for node in ranked:
            if node in skip:
                continue
            other = self._docs[node]
            match = self._related(doc, other)
            if match is None:
                continue
            out[node] = match
            # The other members of an exact group have the same body, so the same match;
            # only the group's first member is in the LSH indexes.
            for twin in self._same_body(other.body_hash)[1:]:
                if twin != exclude and twin not in out:
                    out[twin] = StoredMatch(match.a, self._docs.info(twin).id, match.relation, match.scores, match.passages)
        return out

    def _same_body(self, body_hash: int) -> list[int]:
        """The nodes whose body has this hash, first indexed first (a new list)."""
        return self._bodies.nodes(body_hash)

    def _canonical(self, members: Iterable[int]) -> int:
        """The earliest published member, else the first seen."""
        return self._docs.earliest(members)

    def _result(self, node: int, added: bool) -> Result:
        doc_id = self._id_of(node)
        matches = _strongest_first([self._edges.match(key, seen_from=doc_id) for _, key in self.stories.match_keys(node)])
        return Result(id=doc_id, added=added, matches=matches, **self._placement(node, matches))

    def _placement(self, node: int, matches: Sequence[Match | MatchSummary], heads: dict | None = None) -> dict:
        """`node`'s clusters, their canonical articles, and its relation to its copy
        cluster's canonical (from `matches`, node's own, when one is with it). `heads`
        keeps each cluster's size and canonical for the next member asked about."""
        copy_size, canonical = self._head(self.copies, node, heads)
        story_size, story_canonical = self._head(self.stories, node, heads)
        cluster_id, story_id = self._id_of(canonical), self._id_of(story_canonical)
        if canonical == node:
            relation, similarity = None, 1.0
        else:
            direct = next((m for m in matches if m.b == cluster_id), None)
            m = direct or self._compare(self._docs[node], self._docs[canonical])
            relation, similarity = m.relation, m.similarity
        return dict(cluster=cluster_id, cluster_size=copy_size, story=story_id,
                    story_size=story_size, canonical=cluster_id, story_canonical=story_id,
                    relation=relation, similarity=similarity)

    def _head(self, partition: Partition, node: int, heads: dict | None) -> tuple[int, int]:
        """The size and canonical member of `node`'s cluster in `partition`, kept in `heads`
        under the cluster's number (a number's members never change)."""
        number = partition.cluster_number(node) if heads is not None else None
        if number is None:
            members = partition.members(node)
            return len(members), self._canonical(members)
        key = (partition is self.copies, number)
        head = heads.get(key)
        if head is None:
            members = partition.members(node)
            head = heads[key] = len(members), self._canonical(members)
        return head

    def _preview(self, doc: Document, matches: dict[int, StoredMatch]) -> Result:
        """The clusters `doc` would join if it were added, computed without changing anything."""
        probe = len(self._docs)  # the number `doc` would be given
        ordered = _strongest_first(m.match() for m in matches.values())
        scratch = EdgeStore(lambda n: doc.id if n == probe else self._id_of(n), self.config.min_shared_tokens)
        probe_edges = {other: scratch.edge(scratch.add(probe, other, m)) for other, m in matches.items()}
        groups = {}
        for level, partition in (("copy", self.copies), ("story", self.stories)):
            nodes = {probe}
            adj: dict[int, dict[int, Edge]] = {probe: {}}
            for other, e in probe_edges.items():
                if e.relation in partition.relations:
                    adj[probe][other] = e
                    for member in partition.members(other):
                        nodes.add(member)
            for n in nodes:
                if n != probe:
                    adj[n] = {k: e for k, e in partition.neighbours(n).items() if k in nodes}
                    if n in adj[probe]:
                        adj[n][probe] = adj[probe][n]
            chars = lambda n: doc.page_chars if n == probe else self._docs.page_chars(n)
            group = next(g for g in cluster_component(nodes, adj, chars) if probe in g)
            groups[level] = [n for n in group if n != probe]  # -1 below: `doc` itself
        canonical = self._canonical_with_probe(groups["copy"], doc)
        story_canonical = self._canonical_with_probe(groups["story"], doc)
        if canonical == -1:
            relation, similarity = None, 1.0
        else:
            canonical_id = self._docs.info(canonical).id
            direct = next((m for m in ordered if m.b == canonical_id), None)
            m = direct or self._compare(doc, self._docs[canonical])
            relation, similarity = m.relation, m.similarity
        cid = doc.id if canonical == -1 else self._docs.info(canonical).id
        sid = doc.id if story_canonical == -1 else self._docs.info(story_canonical).id
        return Result(
            id=doc.id, added=False,
            cluster=cid, cluster_size=len(groups["copy"]) + 1,
            story=sid, story_size=len(groups["story"]) + 1,
            canonical=cid, story_canonical=sid,
            relation=relation, similarity=similarity, matches=ordered,
        )

    def _canonical_with_probe(self, members: list[int], doc: Document) -> int:
        if not members:
            return -1
        best = self._canonical(members)
        other = self._docs.info(best).published_at
        if doc.published_at is not None and (other is None or doc.published_at < other):
            return -1
        return best


def _strongest_first(matches: Iterable) -> tuple:
    """Matches (`Match`es or `MatchSummary`s) by relation, then score, then the other id."""
    return tuple(sorted(matches, key=lambda m: (_RANK[m.relation], -m.similarity, m.b)))


def _id_hash(article_id: str) -> int:
    return xxhash.xxh3_64_intdigest(article_id.encode("utf-8", "surrogatepass"))


def _body_blocks(doc: Document) -> list[int]:
    return [h for h, label in zip(doc.block_hashes.tolist(), doc.block_labels) if label == BODY]


def _heaviest_terms(doc: Document, count: int) -> np.ndarray:
    """The `count` story terms of `doc` with the largest weights (ties to the smaller hash), or
    all of them if it has no more."""
    if len(doc.story_terms) <= count:
        return doc.story_terms
    return doc.story_terms[np.argsort(-doc.story_weights, kind="stable")[:count]]
