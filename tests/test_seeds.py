"""The seed articles: two NPR versions, a paraphrased rewrite and two other outlets' reports."""
from __future__ import annotations

import pytest

from dedup.article import Article
from dedup.engine import Engine

COPY_PAIR = {"000", "004"}


def _add_all(engine: Engine, articles) -> None:
    for article in articles:
        engine.add(article)


def test_npr_versions_form_one_copy_cluster_as_versions(engine, seed_articles):
    _add_all(engine, seed_articles.values())
    assert set(engine.cluster("000").members) == COPY_PAIR
    result = engine.get("004")
    assert result.cluster == result.canonical == "000"
    assert result.relation == "version"
    match = next(m for m in result.matches if m.b == "000")
    assert match.relation == "version"
    assert match.jaccard < 0.15  # why the textbook recipe misses this pair
    assert sum(p.tokens for p in match.passages) >= 50


def test_all_five_seeds_are_one_story(engine, seed_articles):
    _add_all(engine, seed_articles.values())
    for article_id in seed_articles:
        assert set(engine.cluster(article_id, level="story").members) == set(seed_articles)


@pytest.mark.parametrize("article_id", ["001", "002", "003"])
def test_rewrites_and_other_outlets_are_in_no_copy_cluster(engine, seed_articles, article_id):
    _add_all(engine, seed_articles.values())
    assert engine.cluster(article_id).members == (article_id,)
    assert all(m.relation == "rewrite" for m in engine.get(article_id).matches)


def test_seed_clusters_do_not_depend_on_order(seed_articles):
    forward, backward = Engine(), Engine()
    _add_all(forward, seed_articles.values())
    _add_all(backward, reversed(list(seed_articles.values())))
    for article_id in seed_articles:
        assert set(forward.cluster(article_id).members) == set(backward.cluster(article_id).members)
        assert set(forward.cluster(article_id, "story").members) == set(backward.cluster(article_id, "story").members)


def _teasers(article: Article, headlines: list[str]) -> list[Article]:
    """Each teaser (headline and the paragraph after it) appended to `article`, as its own document."""
    lines = [line.strip() for line in article.text.split("\n") if line.strip()]
    out = []
    for headline in headlines:
        at = next(i for i, line in enumerate(lines) if line.replace("\u2019", "'").startswith(headline))
        out.append(Article(id=f"teaser:{headline[:30]}", text=f"{lines[at]}\n{lines[at + 1]}"))
    return out


NPR_TEASERS = ["3 things to know about Trump", "Overseas Hong Kong", "Moldova's pro-EU party",
               "Neglected form of diabetes", "Prone to winter depression"]
SITE_TEASERS = ["Grammy-Nominated Fugees", "Bruno Mars Maps", "Spotify Announces New Price Hike"]


def test_teasers_and_their_topics_do_not_join_the_seed_clusters(engine, seed_articles, topic_articles):
    teasers = _teasers(seed_articles["000"], NPR_TEASERS) + _teasers(seed_articles["001"], SITE_TEASERS)
    everything = list(seed_articles.values()) + teasers + list(topic_articles.values())
    _add_all(engine, everything)
    assert set(engine.cluster("000").members) == COPY_PAIR
    assert set(engine.cluster("000", "story").members) == set(seed_articles)
    # A teaser and the article it advertises share its opening: that is a real (excerpt) copy.
    moldova = next(t for t in teasers if "Moldova" in t.id)
    assert moldova.id in engine.cluster("topic-moldova", "story").members


def test_page_chrome_is_not_compared(engine, seed_articles):
    doc = engine.analyse([seed_articles["001"]])[0]
    body = doc.body_text()
    assert "Share this post" not in body
    assert "Bruno Mars" not in body
    assert "Former President Donald Trump announced" in body
