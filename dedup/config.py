"""Index configuration: one frozen value, validated once, stored with every index."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """Every knob of the engine, with defaults meant to work on real news without tuning.

    Fields marked *index* change what is stored, so an index built with one value cannot be
    opened with another (see `index_fields`); the others only change decisions.
    """

    # Sketching (index).
    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 4
    language: str = "en"
    # Candidate generation (index): LSH thresholds on the estimated Jaccard similarity.
    doc_lsh_threshold: float = 0.3
    passage_lsh_threshold: float = 0.5
    story_lsh_threshold: float = 0.15
    # Passages: body text is cut into passages of about this many tokens (index).
    passage_tokens: int = 60
    min_passage_tokens: int = 8
    # Boilerplate (index: it decides what the body is).
    min_block_tokens: int = 4
    min_sentence_tokens: int = 8
    core_cohesion: float = 0.3
    # Verification thresholds (decisions only).
    near_duplicate: float = 0.8
    syndicated: float = 0.8
    version: float = 0.2
    version_passages: int = 1
    version_run_tokens: int = 16
    min_shared_tokens: int = 8
    rewrite: float = 0.27
    rewrite_short: float = 0.4  # added to `rewrite`, divided by sqrt(story terms): see verify
    # A rewrite must also reach this similarity in the story terms not common in the
    # collection: a shared formula is no evidence of one story.
    rewrite_specific: float = 0.2
    # A copy (any relation but `exact`) must hold in the other document at least this share
    # of one side's story terms not common in the collection (by squared weight): templated
    # notices of different issuers share their formula, not their names and figures.
    copy_specific: float = 0.4
    # A block seen in at least this many unrelated documents is boilerplate.
    common_block_documents: int = 4
    # A story term in at least this share of all documents seen, and in at least this many,
    # is common in the collection (see `rewrite_specific`, `copy_specific`): a wire's bond,
    # earnings or money-market formula is in 1-2% of Reuters, one story's names far less.
    common_term_share: float = 0.01
    common_term_documents: int = 50
    # At most this many candidates are verified per document, best first.
    max_candidates: int = 64
    # A story band shared by more indexed documents than this names a beat ("oil prices"),
    # not a story: it proposes no candidates, which keeps the cost of an add flat as the
    # index grows.
    story_bucket_limit: int = 64
    # Inputs larger than this are refused.
    max_text_bytes: int = 5_000_000

    def __post_init__(self) -> None:
        if self.num_perm < 16 or self.num_perm > 1024:
            raise ValueError(f"num_perm must be between 16 and 1024, got {self.num_perm}")
        if not 1 <= self.shingle_size <= 12:
            raise ValueError(f"shingle_size must be between 1 and 12 words, got {self.shingle_size}")
        for name in ("doc_lsh_threshold", "passage_lsh_threshold", "story_lsh_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
        for name in ("near_duplicate", "syndicated", "version", "rewrite", "rewrite_short", "rewrite_specific",
                     "copy_specific", "core_cohesion", "common_term_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.version > self.syndicated:
            raise ValueError(
                f"version ({self.version}) must not exceed syndicated ({self.syndicated}): "
                "a version shares less text than a syndicated copy"
            )
        for name in ("passage_tokens", "min_passage_tokens", "max_candidates", "max_text_bytes",
                     "common_block_documents", "common_term_documents", "version_passages", "version_run_tokens", "min_shared_tokens",
                     "story_bucket_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    INDEX_FIELDS = (
        "num_perm", "seed", "shingle_size", "language", "doc_lsh_threshold",
        "passage_lsh_threshold", "story_lsh_threshold", "passage_tokens", "min_passage_tokens",
        "min_block_tokens", "min_sentence_tokens", "core_cohesion",
    )

    def index_fields(self) -> dict:
        """The fields an existing index was built with and must be opened with."""
        return {name: getattr(self, name) for name in self.INDEX_FIELDS}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)
