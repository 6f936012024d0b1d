"""What `dedup-bench` sends: articles from a corpus, or generated syndication with truth."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from html import escape

from wordfreq import top_n_list

from dedup.article import Article
from dedup.inputs import Page, read_inputs
from dedup.synthetic import generate


# Mean delay, in articles, between a story breaking and each of its articles arriving.
ARRIVAL_SPREAD = 1000.0


@dataclass(frozen=True)
class Workload:
    articles: list[Article | Page]  # pages: HTML to send as it is (`from_corpus(..., pages=True)`)
    truth: dict[str, str] | None  # article id -> true copy cluster, when known
    description: str

    def cycle(self, i: int) -> tuple[Article | Page, str | None]:
        """The `i`-th article to send; past the end, the articles again under new ids
        (exact copies of the first round, so they join its clusters)."""
        base = self.articles[i % len(self.articles)]
        round_ = i // len(self.articles)
        truth = self.truth.get(base.id) if self.truth else None
        if round_ == 0:
            return base, truth
        return replace(base, id=f"{base.id}#{round_}"), truth


def as_page(article: Article) -> str:
    """`article` as a news site would serve it: each paragraph a `<p>`, the title (if any) as
    `<title>` and `<h1>`, inside a navigation bar, a "most read" list and a footer (what the
    server must extract the main text from)."""
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(12))
    title = escape(article.title)
    head_title = f"<title>{title} | {escape(article.source or 'News')}</title>" if title else ""
    heading = f"<h1>{title}</h1>" if title else ""
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in article.text.splitlines() if line.strip())
    return (f'<!doctype html><html><head><meta charset="utf-8">{head_title}</head><body>'
            f"<header><nav><ul>{nav}</ul></nav></header><main><article>{heading}{paragraphs}</article>"
            "<aside><h2>Most read</h2><ul><li><a href='/a'>Markets close higher</a></li>"
            "<li><a href='/b'>Storm closes schools across the region</a></li></ul></aside></main>"
            "<footer><p>Copyright. All rights reserved.</p><a href='/privacy'>Privacy</a></footer></body></html>")


def from_corpus(path: str, limit: int | None = None, max_bytes: int = 5_000_000, pages: bool = False) -> Workload:
    """The articles of a directory or JSONL file; with `pages`, its HTML pages are kept as
    they are, for the server to extract (a page not in UTF-8 is extracted here)."""
    articles = []
    for item in read_inputs([path], max_bytes, pages=pages):
        if isinstance(item, Page) and isinstance(item.html, bytes):
            item = item.article()
        if isinstance(item, (Article, Page)):
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
    matter here (lengths, Zipfian words, paragraphs). Use --corpus for real text. The articles
    come in arrival order (`in_arrival_order`).
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
    articles = in_arrival_order(gen.articles, gen.truth, [a.id for a in base], rng)
    return Workload(articles, gen.truth, f"{len(articles):,} generated articles from {stories:,} stories (seed {seed})")


def in_arrival_order(articles: list[Article], truth: dict[str, str], stories: list[str], rng: random.Random,
                     spread: float = ARRIVAL_SPREAD) -> list[Article]:
    """`articles` as a feed receives them: stories break one after another (in the order of
    `stories`), and each article of a story arrives after a random delay (exponential, a mean
    of `spread` articles; the original is not always first). Copies then come close to their
    story, as syndication does, and a long run reaches a steady state: the matching work per
    article no longer depends on how far into the run it is, only on the index size. (A
    collection shuffled as a whole gives each later article more of its copies already
    indexed: at the end of a run of N articles, all of them.)"""
    rank = {story: i for i, story in enumerate(stories)}
    per_story = len(articles) / max(1, len(stories))
    arrival = {a.id: rank[truth[a.id]] * per_story + rng.expovariate(1.0 / spread) for a in articles}
    return sorted(articles, key=lambda a: arrival[a.id])
