"""What `dedup-bench` sends: articles from a corpus, or generated syndication with truth."""
from __future__ import annotations

import random
from dataclasses import dataclass

from wordfreq import top_n_list

from dedup.article import Article
from dedup.inputs import read_inputs
from dedup.synthetic import generate


@dataclass(frozen=True)
class Workload:
    articles: list[Article]
    truth: dict[str, str] | None  # article id -> true copy cluster, when known
    description: str

    def cycle(self, i: int) -> tuple[Article, str | None]:
        """The `i`-th article to send; past the end, the articles again under new ids
        (exact copies of the first round, so they join its clusters)."""
        base = self.articles[i % len(self.articles)]
        round_ = i // len(self.articles)
        truth = self.truth.get(base.id) if self.truth else None
        if round_ == 0:
            return base, truth
        copy = Article(id=f"{base.id}#{round_}", text=base.text, title=base.title, source=base.source,
                       published_at=base.published_at)
        return copy, truth


def from_corpus(path: str, limit: int | None = None, max_bytes: int = 5_000_000) -> Workload:
    articles = []
    for item in read_inputs([path], max_bytes):
        if isinstance(item, Article):
            articles.append(item)
            if limit and len(articles) >= limit:
                break
    if not articles:
        raise ValueError(f"no usable articles in {path}")
    return Workload(articles, None, f"{len(articles):,} articles from {path}")


def generated(stories: int, seed: int = 0) -> Workload:
    """Syndication generated from `stories` base articles (dedup.synthetic), seeded.

    The base articles are made of English words drawn per story from wordfreq's list, so each
    story has its own vocabulary; they read like word salad but have the statistics that
    matter here (lengths, Zipfian words, paragraphs). Use --corpus for real text.
    """
    rng = random.Random(seed)
    common = top_n_list("en", 150)
    topical = top_n_list("en", 20000)[1500:]
    base = []
    for s in range(stories):
        vocabulary = rng.sample(topical, 40)
        paragraphs = []
        for _ in range(rng.randint(5, 12)):
            sentences = []
            for _ in range(rng.randint(1, 3)):
                words = [rng.choice(vocabulary) if rng.random() < 0.4 else rng.choice(common)
                         for _ in range(rng.randint(12, 28))]
                sentences.append(" ".join(words).capitalize() + ".")
            paragraphs.append(" ".join(sentences))
        title = " ".join(rng.sample(vocabulary, 5)).capitalize()
        base.append(Article(id=f"story-{seed}-{s}", text="\n".join(paragraphs), title=title, source="wire.example"))
    gen = generate(base, seed=seed)
    return Workload(gen.articles, gen.truth, f"{len(gen.articles):,} generated articles from {stories:,} stories (seed {seed})")
