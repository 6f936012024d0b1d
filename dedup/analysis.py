"""From an article to the features every later stage works on.

`Analyzer.analyse` is a pure function of the article and the configuration: repaired text,
tokens, blocks and their boilerplate labels, the body's shingles cut into passages, the
story terms, the exact-copy hash and the three MinHash signatures (body, passages, story).
It never looks at other documents, so it can run in any process, in any order.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import xxhash

from dedup.article import Article
from dedup.boilerplate import BODY, PERIPHERAL, classify_blocks
from dedup.config import Config
from dedup.normalise import repair
from dedup.segment import Span, folded_tokens, split_blocks
from dedup.lsh import band_keys, lsh_params
from dedup.sketch import Sketcher, shingle_hashes
from dedup.terms import BlockTerms, TermWeigher

try:  # the compiled body arrays (see setup.py); `_body` does the same without it
    from dedup import _analysis
except ImportError:  # pragma: no cover - depends on the install
    _analysis = None

_U64 = np.uint64
_NO_KEYS = np.empty(0, dtype=np.uint64)


class _Body(NamedTuple):
    """The arrays of a document's body (see `Document`)."""

    tokens: np.ndarray
    shingles: np.ndarray
    shingle_blocks: np.ndarray
    shingle_quoted: np.ndarray
    shingle_set: np.ndarray
    own_set: np.ndarray
    passage_starts: np.ndarray


_BODY_DTYPES = (np.int32, _U64, np.int32, bool, _U64, _U64, np.int32)


@dataclass
class Document:
    """An analysed article. Offsets are into `text`, the repaired text shown to users."""

    id: str
    title: str
    source: str
    published_at: datetime | None
    metadata: dict[str, str]
    text: str
    token_starts: np.ndarray  # int32, one per token
    token_ends: np.ndarray  # int32
    block_bounds: np.ndarray  # int32 (n_blocks, 2): token range of each block
    block_labels: list[str]
    block_hashes: np.ndarray  # uint64, hash of each block's folded tokens
    body_tokens: np.ndarray  # int32: indices of the body's tokens, in order
    body_chars: int  # characters spanned by the body's tokens (what shared spans are measured against)
    page_chars: int  # body_chars and the characters of the periphery cut from around it: the page's prose
    shingles: np.ndarray  # uint64: shingle i covers body tokens i .. i+k-1
    shingle_blocks: np.ndarray  # int32: block in which shingle i starts
    shingle_quoted: np.ndarray  # bool: shingle i starts inside quotation marks
    shingle_set: np.ndarray  # uint64: sorted distinct shingles of the body
    own_set: np.ndarray  # uint64: sorted distinct shingles outside quotations (see verify)
    passage_starts: np.ndarray  # int32: first shingle of each passage
    body_hash: int
    story_terms: np.ndarray  # uint64, sorted stem hashes
    story_weights: np.ndarray  # float32, aligned with story_terms
    story_norm: float  # Euclidean norm of story_weights (for cosine similarity)
    signature: np.ndarray  # uint32 (num_perm,): MinHash of the body's shingles
    story_signature: np.ndarray  # uint32 (num_perm,): MinHash of the weighted story terms
    # LSH band keys of the three signatures (computed here, so in the worker processes).
    band_keys: np.ndarray  # uint64 (bands,)
    passage_band_keys: np.ndarray  # uint64 (n_passages, bands)
    story_band_keys: np.ndarray  # uint64 (bands,)

    def __reduce__(self):
        """Pickled as its file record (`dedup.record`): how analysis crosses from a worker
        process to the indexing one, in a third of the time of pickling each array."""
        from dedup import record  # imported here: it builds its layout from this class

        return record.decode, (record.encode(self), True)

    @property
    def n_body_tokens(self) -> int:
        return len(self.body_tokens)

    def body_text(self) -> str:
        """The body blocks, one per line: what the document is compared on."""
        lines = []
        for (lo, hi), label in zip(self.block_bounds.tolist(), self.block_labels):
            if label == BODY and hi > lo:
                lines.append(self.text[self.token_starts[lo]:self.token_ends[hi - 1]])
        return "\n".join(lines)


class Analyzer:
    """Turns articles into `Document`s; holds the caches that make that fast."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sketcher = Sketcher(config.num_perm, config.seed)
        self.weigher = TermWeigher(config.language)

    def analyse(self, article: Article) -> Document:
        return self.analyse_many([article])[0]

    def analyse_many(self, articles: Sequence[Article]) -> list[Document]:
        """Analyse several articles, computing all their signatures in one numpy pass."""
        docs = [self._features(a) for a in articles]
        self._sign(docs)
        return docs

    # -- per document -------------------------------------------------------------------

    def _features(self, article: Article) -> Document:
        cfg = self.config
        text = repair(article.text)
        title = repair(article.title).strip()
        if title and not text.lstrip().lower().startswith(title.lower()):
            text = f"{title}\n{text}"
            title_block = True
        else:
            title_block = False
        keys, starts, ends = folded_tokens(text)
        if title_block:
            # The title is a block of its own, never joined to the first line of the body.
            spans = [Span(0, len(title)), *split_blocks(text, len(title) + 1)]
        else:
            spans = split_blocks(text)
        token_starts = starts.tolist()  # searched by bisection: a numpy call per search costs more
        bounds = _block_bounds(spans, token_starts)
        block_bounds = np.asarray(bounds, dtype=np.int32).reshape(-1, 2)
        block_keys = [keys[lo:hi] for lo, hi in bounds]
        token_hashes, token_terms, term_weights = self.weigher.tokens(keys)
        block_terms = BlockTerms(token_terms, term_weights, block_bounds)
        labels = classify_blocks(
            [text[s.start:s.end] for s in spans],
            block_keys,
            block_terms,
            min_tokens=cfg.min_block_tokens,
            min_sentence_tokens=cfg.min_sentence_tokens,
            core_cohesion=cfg.core_cohesion,
            titled=title_block,
        )
        body_blocks = [i for i, label in enumerate(labels) if label == BODY]
        quoted = _quoted_tokens(text, spans, bounds, token_starts)
        body = self._body(text, token_hashes, ends, block_bounds, body_blocks, quoted)
        body_chars = int((ends[body.tokens] - starts[body.tokens]).sum())
        # A copy under another headline is still an exact copy: the hash leaves a separately
        # given title out, unless the title is all there is.
        exact_blocks = body_blocks[1:] if title_block and body_blocks[:1] == [0] and len(body_blocks) > 1 else body_blocks
        body_hash = xxhash.xxh3_64_intdigest(
            "\n".join(" ".join(block_keys[i]) for i in exact_blocks).encode("utf-8", "surrogatepass")
        )
        story_terms, story_weights = block_terms.story_terms(body_blocks)
        return Document(
            id=article.id,
            title=title or (text[spans[body_blocks[0]].start:spans[body_blocks[0]].end] if body_blocks else ""),
            source=article.source,
            published_at=article.published_at,
            metadata=dict(article.metadata),
            text=text,
            token_starts=starts,
            token_ends=ends,
            block_bounds=block_bounds,
            block_labels=labels,
            block_hashes=np.asarray(
                [xxhash.xxh3_64_intdigest(" ".join(k).encode("utf-8", "surrogatepass")) for k in block_keys],
                dtype=_U64,
            ),
            body_tokens=body.tokens,
            body_chars=body_chars,
            page_chars=body_chars + _chars_of(starts, ends, bounds, labels, PERIPHERAL),
            shingles=body.shingles,
            shingle_blocks=body.shingle_blocks,
            shingle_quoted=body.shingle_quoted,
            shingle_set=body.shingle_set,
            own_set=body.own_set,
            passage_starts=body.passage_starts,
            body_hash=body_hash,
            story_terms=story_terms,
            story_weights=story_weights,
            story_norm=float(np.sqrt(np.dot(story_weights, story_weights))),
            signature=np.empty(0, np.uint32),
            story_signature=np.empty(0, np.uint32),
            band_keys=_NO_KEYS,
            passage_band_keys=_NO_KEYS,
            story_band_keys=_NO_KEYS,
        )

    def _body(self, text: str, token_hashes, token_ends, bounds, body_blocks: list[int], quoted) -> "_Body":
        """The body's tokens, shingles and passages (compiled where built: for a news
        article, a dozen numpy calls on arrays of a few hundred values cost more than the
        work)."""
        cfg = self.config
        if _analysis is not None:
            parts = _analysis.body_features(text, token_hashes, token_ends, bounds, body_blocks, quoted,
                                            cfg.shingle_size, cfg.min_passage_tokens, cfg.passage_tokens)
            return _Body(*(np.frombuffer(part, dtype) for part, dtype in zip(parts, _BODY_DTYPES)))
        body_tokens = np.concatenate(
            [np.arange(lo, hi, dtype=np.int32) for lo, hi in bounds[body_blocks].tolist()]
            or [np.empty(0, dtype=np.int32)]
        )
        token_block = np.repeat(np.arange(len(bounds), dtype=np.int32), bounds[:, 1] - bounds[:, 0])
        shingles = shingle_hashes(token_hashes[body_tokens], cfg.shingle_size)
        first_tokens = body_tokens[: len(shingles)]
        shingle_quoted = quoted[first_tokens]
        shingle_set = np.unique(shingles)
        return _Body(
            tokens=body_tokens,
            shingles=shingles,
            shingle_blocks=token_block[first_tokens],
            shingle_quoted=shingle_quoted,
            shingle_set=shingle_set,
            own_set=own_shingles(shingles, shingle_quoted, shingle_set),
            passage_starts=self._passages(text, token_ends, body_tokens, token_block, len(shingles)),
        )

    def _passages(self, text, token_ends, body_tokens, token_block, n_shingles) -> np.ndarray:
        """Cut the body's shingles into passages: blocks, long ones split at sentence ends."""
        cfg = self.config
        if n_shingles == 0:
            return np.empty(0, dtype=np.int32)
        starts = [0]
        length = 0
        blocks = token_block[body_tokens[:n_shingles]]
        for i in range(1, n_shingles):
            length += 1
            new_block = blocks[i] != blocks[i - 1]
            prev_end = token_ends[body_tokens[i - 1]]
            sentence_break = text[prev_end:prev_end + 1] in (".", "!", "?")
            if length >= cfg.min_passage_tokens and (
                new_block or (length >= cfg.passage_tokens and sentence_break) or length >= 2 * cfg.passage_tokens
            ):
                starts.append(i)
                length = 0
        if len(starts) > 1 and n_shingles - starts[-1] < cfg.min_passage_tokens:
            starts.pop()
        return np.asarray(starts, dtype=np.int32)

    # -- signatures, many documents per numpy call ----------------------------------------

    def _sign(self, docs: list[Document]) -> None:
        """Signatures and band keys of a batch of documents, in a few numpy calls.

        Passage signatures are only needed for their band keys, so they are not kept.
        """
        if not docs:
            return
        cfg, sk = self.config, self.sketcher
        # Passages partition the body's shingles, so the body's signature is the element-wise
        # minimum of its passages'.
        offsets = np.cumsum([0] + [len(d.shingles) for d in docs])
        all_shingles = np.concatenate([d.shingles for d in docs])
        starts = np.concatenate([d.passage_starts.astype(np.int64) + off for d, off in zip(docs, offsets)])
        passage_sigs = sk.signatures(all_shingles, starts)
        passage_keys = band_keys(passage_sigs, *lsh_params(cfg.passage_lsh_threshold, cfg.num_perm))
        counts = [len(d.passage_starts) for d in docs]
        firsts = np.cumsum([0] + counts[:-1])
        signed = [i for i, n in enumerate(counts) if n]
        bodies = np.full((len(docs), sk.num_perm), 0xFFFFFFFF, np.uint32)
        if signed:
            bodies[signed] = np.minimum.reduceat(passage_sigs, firsts[signed], axis=0)
        for d, signature, at, n in zip(docs, bodies, firsts.tolist(), counts):
            d.signature = signature
            d.passage_band_keys = passage_keys[at:at + n]
        # Story signatures: each term is repeated in proportion to its weight, so the MinHash
        # estimates the weighted Jaccard similarity of the story terms.
        story_items, story_starts = _weighted_items([d.story_terms for d in docs], [d.story_weights for d in docs])
        story_sigs = sk.signatures(story_items, story_starts)
        body_keys = band_keys(np.stack([d.signature for d in docs]), *lsh_params(cfg.doc_lsh_threshold, cfg.num_perm))
        story_keys = band_keys(story_sigs, *lsh_params(cfg.story_lsh_threshold, cfg.num_perm))
        for d, signature, body, story in zip(docs, story_sigs, body_keys, story_keys):
            d.story_signature, d.band_keys, d.story_band_keys = signature, body, story


def _block_bounds(spans, token_starts: list[int]) -> list[tuple[int, int]]:
    """Each span's tokens: the range of those that start inside it."""
    return [(bisect_left(token_starts, s.start), bisect_left(token_starts, s.end)) for s in spans]


def own_shingles(shingles: np.ndarray, quoted: np.ndarray, all_distinct: np.ndarray) -> np.ndarray:
    """Distinct shingles outside quotations; all of them when quotation is most of the body.

    Independent reports quote the same statement verbatim, so shared quotations say little
    about copying; a body that is mostly quotation is judged on all of it.
    """
    own = distinct_among(shingles[~quoted], all_distinct)
    if len(own) < 0.3 * len(all_distinct) or len(own) == 0:
        return all_distinct
    return own


def _chars_of(starts: np.ndarray, ends: np.ndarray, bounds: list, labels: list[str], label: str) -> int:
    """Characters spanned by the tokens of the blocks labelled `label` (one cumulative sum,
    and only for a page that has such blocks)."""
    if label not in labels:
        return 0
    lengths = np.zeros(len(starts) + 1, np.int64)
    np.cumsum(ends - starts, out=lengths[1:])
    ends_at = lengths.tolist()
    return sum(ends_at[hi] - ends_at[lo] for (lo, hi), own in zip(bounds, labels) if own == label)


def distinct_among(values: np.ndarray, superset: np.ndarray) -> np.ndarray:
    """`np.unique(values)`, given `superset`, the sorted distinct values of an array that holds
    every one of `values`: marks which of those occur instead of sorting `values` (2-3x faster
    for a body's few hundred shingles)."""
    present = np.zeros(len(superset), bool)
    present[np.searchsorted(superset, values)] = True
    return superset[present]


def _quoted_tokens(text: str, spans, bounds, token_starts: list[int]) -> np.ndarray:
    """Which tokens stand inside double quotation marks, paragraph by paragraph.

    Quotes matter because independent articles quote the same statement word for word; a
    quotation left open at the end of a paragraph (the convention for quotes that continue)
    ends with it.
    """
    quoted = np.zeros(len(token_starts), dtype=bool)
    if '"' not in text:
        return quoted
    for span, (lo, hi) in zip(spans, bounds):
        marks = []
        at = text.find('"', span.start, span.end)
        while at >= 0:
            marks.append(at)
            at = text.find('"', at + 1, span.end)
        for open_at, close_at in zip(marks[0::2], marks[1::2] + [span.end]):
            quoted[bisect_left(token_starts, open_at, lo, hi):bisect_left(token_starts, close_at, lo, hi)] = True
    return quoted


def _weighted_items(terms: list[np.ndarray], weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each document's story terms, each repeated as many times as its weight rounds to (at
    least once), the copies told apart; all documents' back to back, and where each starts."""
    copies = np.maximum(1, np.rint(np.concatenate(weights))).astype(np.int64)
    ends = np.cumsum(copies)
    term_starts = np.cumsum([0] + [len(t) for t in terms])
    starts = np.concatenate([[0], ends])[term_starts[:-1]]
    items = np.repeat(np.concatenate(terms).astype(_U64, copy=False), copies)
    if len(items) == 0:
        return items, starts
    offsets = np.arange(len(items)) - np.repeat(ends - copies, copies)
    with np.errstate(over="ignore"):
        return items + offsets.astype(_U64) * _U64(0x9E3779B97F4A7C15), starts
