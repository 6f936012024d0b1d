"""Realistic syndication made from real articles, with known truth.

For benchmarks and load tests larger than the labelled corpora. Each base article becomes a
story; the generator derives from it what news sites actually publish: copies wrapped in
other sites' page chrome (navigation, share widgets, "related stories" teasers that reprint
the openings of *other* stories, footers), truncated excerpts, updated versions (paragraphs
dropped, added and edited) and lightly edited copies (reordered sentences, changed numbers,
dropped words). Every derived document's true copy cluster is its base article's.
Deterministic for a given seed.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dedup.article import Article

# Kinds of derived documents, in the proportions they are drawn.
KINDS = ("wrapped", "wrapped", "truncated", "version", "edited")

_SITES = [
    {
        "name": "dailyherald.example",
        "head": ["Skip to content", "News | Politics | Business | Sport | Culture | Opinion", "Subscribe"],
        "foot": ["Share this article", "Facebook Twitter Email", "© 2025 Daily Herald Media Group. All rights reserved."],
    },
    {
        "name": "metro-times.example",
        "head": ["Menu", "Search", "Sign in", "Metro Times / Local / National / World"],
        "foot": ["Most read", "Newsletter: the day's top stories, every morning. Sign up now.", "Privacy policy Terms of use Cookie settings"],
    },
    {
        "name": "valleypost.example",
        "head": ["Advertisement", "Valley Post"],
        "foot": ["Copyright 2025 The Associated Press. All rights reserved. This material may not be published, broadcast, rewritten or redistributed.", "Comments are closed."],
    },
    {
        "name": "wirereport.example",
        "head": ["Wire Report", "Home › World"],
        "foot": ["Related coverage", "Be the first to know: get breaking news alerts in our app.", "Report an error", "Contact us"],
    },
]


@dataclass(frozen=True)
class Generated:
    """The generated collection and its truth: article id -> copy cluster (base article id)."""

    articles: list[Article]
    truth: dict[str, str]
    kinds: dict[str, str]


def generate(base: Sequence[Article], copies_per_story: float = 2.0, seed: int = 0) -> Generated:
    """Derive copies of each base article; shuffled, so copies may arrive before originals."""
    rng = random.Random(seed)
    paragraphs = {a.id: _paragraphs(a.text) for a in base}
    usable = [a for a in base if len(paragraphs[a.id]) >= 2]
    out: list[Article] = []
    truth: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for art in usable:
        out.append(art)
        truth[art.id] = art.id
        kinds[art.id] = "original"
        n = _draw_count(rng, copies_per_story)
        for i in range(n):
            kind = rng.choice(KINDS)
            paras = paragraphs[art.id]
            if kind == "truncated":
                body = paras[: max(2, int(len(paras) * rng.uniform(0.3, 0.7)))]
            elif kind == "version":
                body = _version(rng, paras)
            elif kind == "edited":
                body = [_edit(rng, p) for p in paras]
            else:
                body = list(paras)
            site = rng.choice(_SITES)
            teasers = _teasers(rng, usable, paragraphs, exclude=art.id)
            text = "\n".join(site["head"] + [art.title] * bool(art.title) + body + teasers + site["foot"])
            copy_id = f"{art.id}~{kind}{i}"
            out.append(Article(id=copy_id, text=text, source=site["name"]))
            truth[copy_id] = art.id
            kinds[copy_id] = kind
    rng.shuffle(out)
    return Generated(out, truth, kinds)


def _draw_count(rng: random.Random, mean: float) -> int:
    """Copies per story: many stories are never copied, a few are copied widely."""
    if rng.random() < 0.4:
        return 0
    return min(12, int(rng.expovariate(1.0 / (mean / 0.6))) + 1)


def _paragraphs(text: str) -> list[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n|\n(?=\S)", text) if p.strip()]
    return [" ".join(p.split()) for p in paras]


def _teasers(rng: random.Random, stories, paragraphs, exclude: str) -> list[str]:
    """A "related stories" box: other stories' headlines and opening sentences."""
    if rng.random() < 0.4 or len(stories) < 4:
        return []
    picks = [s for s in rng.sample(stories, min(len(stories), 4)) if s.id != exclude][:3]
    lines = ["Related stories"]
    for s in picks:
        first = paragraphs[s.id][0]
        sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
        if s.title:
            lines.append(s.title)
        lines.append(sentence)
    return lines


def _version(rng: random.Random, paras: list[str]) -> list[str]:
    """An update: some paragraphs dropped, some edited, new ones made of the story's own words."""
    kept = [p if rng.random() < 0.7 else _edit(rng, p) for p in paras if rng.random() < 0.8] or paras[:1]
    words = " ".join(paras).split()
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(1, len(kept))
        start = rng.randrange(max(1, len(words) - 25))
        new = words[start:start + rng.randint(12, 25)]
        rng.shuffle(new)
        kept.insert(at, "Update: " + " ".join(new).rstrip(".") + ".")
    return kept


def _edit(rng: random.Random, paragraph: str) -> str:
    """Copy-editing: a changed number, a dropped word, two sentences swapped."""
    sentences = re.split(r"(?<=[.!?])\s", paragraph)
    if len(sentences) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(sentences) - 1)
        sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    words = " ".join(sentences).split()
    for _ in range(max(1, len(words) // 25)):
        i = rng.randrange(len(words))
        if any(c.isdigit() for c in words[i]):
            words[i] = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), words[i], count=1)
        elif len(words) > 5 and rng.random() < 0.5:
            del words[i]
    return " ".join(words)
