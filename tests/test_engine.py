"""Engine behaviour beyond the seeds: exact copies, tables, check, delete, canonical."""
from __future__ import annotations

import pickle
import random
from datetime import datetime, timezone

import numpy as np
import pytest

from dedup import edges, verify
from dedup import engine as engine_module
from dedup.article import Article
from dedup.config import Config
from dedup.engine import Engine
from dedup.errors import ConflictingArticle, InvalidArticle, UnknownArticle
from dedup.verify import COPY_RELATIONS, Match, SharedPassage, StoredMatch, compare, story_similarity
from tests.conftest import BOND_NOTICE, CHROME_HEAD, CHROME_TAIL, bond_notices

TABLE = "Shr 15 cts vs 14 cts\n    Net 2,028,000 vs 1,879,000\n    Revs 32.1 mln vs 29.5 mln\n Reuter\n&#3;"


def test_wire_tables_under_different_headlines_are_exact_copies(engine):
    engine.add(Article(id="a", text=TABLE, title="PARK COMMUNICATIONS INC <PARC> 1ST QTR NET"))
    result = engine.add(Article(id="b", text=TABLE, title="PARK COMMUNICATIONS INC <PARC.O> 1ST QTR MAR 31"))
    assert result.relation == "exact" and result.cluster == "a"


def test_different_bodies_under_titles_are_not_exact(engine):
    engine.add(Article(id="a", text="Arvin Industries Inc said L.K. Evans has been elected president.", title="ARVIN NAMES PRESIDENT"))
    result = engine.add(Article(id="b", text="New Zealand's official foreign reserves fell in January, the bank said.", title="NZ RESERVES FALL"))
    assert result.cluster == "b" and not any(m.relation == "exact" for m in result.matches)


def test_dividend_notices_are_told_apart_by_their_titles_and_dates():
    """A dividend notice's body is one formula sentence ("Qtly div 10 cts vs 10 cts prior");
    its title and its short lines ("Pay April 13") say whose dividend it is and when it is paid,
    so notices of different companies are not copies once the formula is common. The same
    notice under another headline is still an exact copy."""
    rng = random.Random(7)
    months = ["March", "April", "May", "June"]
    notice = "Qtly div {cts} cts vs {cts} cts prior\n    Pay {pay}\n    Record {record}\n Reuter\n&#3;"
    engine = Engine(Config(common_term_documents=10))
    notices = []
    for i in range(30):
        cts = rng.choice(["five", "10", "12", "20"])
        text = notice.format(cts=cts, pay=f"{rng.choice(months)} {rng.randint(1, 30)}",
                             record=f"{rng.choice(months)} {rng.randint(1, 30)}")
        notices.append(Article(id=f"notice-{i}", text=text, title=f"COMPANY{i} CORP <CO{i}> SETS QUARTERLY"))
    for article in notices:
        engine.add(article)
    assert max(engine.get(article.id).cluster_size for article in notices) == 1
    reissue = engine.add(Article(id="reissue", text=notices[5].text, title="COMPANY5 <CO5> DECLARES QTLY DIVIDEND"))
    assert reissue.relation == "exact" and reissue.cluster == "notice-5"


def test_an_edited_stub_taken_into_a_long_revision_is_found_by_its_rarest_words(monkeypatch, seed_articles,
                                                                                topic_articles):
    """A stub (the first sentence of five paragraphs, each sentence edited) that a revision
    twelve times its size took in, along with much else: the body, passage and story bands
    miss it (it is a small part of the revision's text and terms), its heaviest story terms
    (the story's names) are all in the revision."""
    story = seed_articles["002"].text
    paragraphs = [p for p in story.split("\n") if len(p.split()) >= 25][:5]

    def edited_first_sentence(paragraph: str) -> str:
        words = paragraph.split(". ")[0].split()
        words[len(words) * 3 // 4] = "reportedly"
        return " ".join(words) + "."

    stub = Article(id="stub", text="\n".join(edited_first_sentence(p) for p in paragraphs))
    revision = Article(id="revision", text="\n".join([story, *(t.text for t in topic_articles.values())]))
    assert len(revision.text.split()) > 10 * len(stub.text.split())

    with monkeypatch.context() as patch:
        patch.setattr(engine_module, "_ANCHOR_QUERY_TERMS", 0)
        blind = Engine(Config())
        blind.add(stub)
        assert blind.add(revision).matches == ()

    engine = Engine(Config())
    engine.add(stub)
    result = engine.add(revision)
    assert result.cluster == "stub" and result.relation in COPY_RELATIONS


def test_check_answers_like_add_without_indexing(engine, seed_articles):
    for i in ("000", "001", "002", "003"):
        engine.add(seed_articles[i])
    checked = engine.check(seed_articles["004"])
    assert len(engine) == 4 and "004" not in engine
    added = engine.add(seed_articles["004"])
    assert (checked.cluster, checked.story, checked.relation) == (added.cluster, added.story, added.relation)
    assert checked.cluster_size == added.cluster_size and checked.story_size == added.story_size


def test_conflicting_text_for_an_id_is_refused(engine, seed_articles):
    engine.add(seed_articles["000"])
    with pytest.raises(ConflictingArticle):
        engine.add(Article(id="000", text=seed_articles["001"].text))


def test_delete_repairs_clusters(engine, seed_articles):
    for article in seed_articles.values():
        engine.add(article)
    engine.delete("000")
    assert engine.cluster("004").members == ("004",)
    with pytest.raises(UnknownArticle):
        engine.get("000")


def test_earliest_published_is_canonical(engine, seed_articles):
    late = datetime(2025, 2, 12, 18, tzinfo=timezone.utc)
    early = datetime(2025, 2, 12, 15, tzinfo=timezone.utc)
    engine.add(Article(id="000", text=seed_articles["000"].text, published_at=late))
    result = engine.add(Article(id="004", text=seed_articles["004"].text, published_at=early))
    assert result.canonical == result.cluster == "004" and result.relation is None
    assert engine.get("000").relation == "version"


def test_a_digest_of_several_stories_does_not_merge_them(engine, seed_articles, topic_articles):
    """A page reprinting the openings of four stories links to each; it must not fuse them."""
    stories = [seed_articles["000"], seed_articles["002"], topic_articles["spotify"], topic_articles["diabetes"]]
    for story in stories:
        engine.add(story)
        engine.add(Article(id=f"{story.id}/copy", text=story.text))  # each story has a copy
    openings = []
    for story in stories:
        paras = [p for p in story.text.split("\n") if len(p.split()) > 12]
        openings.extend(paras[:2])
    engine.add(Article(id="digest", text="\n".join(openings)))
    for story in stories:
        members = set(engine.cluster(story.id).members)
        assert {s.id for s in stories} & members == {story.id}


def test_mojibake_and_typography_do_not_hide_a_copy(engine, seed_articles):
    text = seed_articles["002"].text
    garbled = text.replace("’", "â€™").replace("“", "â€œ").replace("”", "â€\x9d")
    engine.add(seed_articles["002"])
    assert engine.add(Article(id="garbled", text=garbled)).relation in ("exact", "near_duplicate")


@pytest.mark.parametrize("text", ["", "   \n\t", "\x00\x00"])
def test_empty_text_is_invalid(engine, text):
    with pytest.raises(InvalidArticle):
        engine.add(Article(id="x", text=text))


def test_deleting_the_first_of_identical_copies_keeps_the_others_findable(engine, seed_articles):
    text = seed_articles["002"].text
    engine.add(Article(id="a", text=text))
    engine.add(Article(id="b", text=text))
    engine.delete("a")
    edited = text.replace("Trump", "President Trump", 1)
    result = engine.add(Article(id="c", text=edited))
    assert result.cluster == "b" and result.matches[0].b == "b"


def test_an_exact_twin_does_not_let_a_teaser_bridge_two_stories(engine, seed_articles, topic_articles):
    story, other = seed_articles["002"], topic_articles["spotify"]
    opening = [p for p in other.text.split("\n") if len(p.split()) > 12][0]
    paras = [p for p in story.text.split("\n") if p.strip()]
    page = "\n".join(paras[:3] + ["Related stories", opening])  # too short to tell its periphery
    engine.add(story)
    engine.add(other)
    engine.add(Article(id="page", text=page))
    engine.add(Article(id="page-again", text=page))
    assert set(engine.cluster("page").members) == {"002", "page", "page-again"}
    assert engine.cluster(other.id).members == (other.id,)


def test_formulaic_notices_about_different_issues_are_not_versions(engine):
    """Wire items cast in one formula share many short runs, never a sentence of text."""
    first = BOND_NOTICE.format(
        issuer="Norrland Kraft AB", amount="150", currency="Ecu", due="June 4, 1994", coupon="7-1/8",
        price="101-1/4", manager="Banque Ostrava", denomination="5,000", listing="Luxembourg",
        concession="1-3/8", fees="5/8", payment="June 4")
    second = BOND_NOTICE.format(
        issuer="Cassa di Sarno", amount="80", currency="dlr", due="May 12, 1992", coupon="8-3/4",
        price="100-7/8", manager="Halvard Securities", denomination="10,000", listing="Zurich",
        concession="1-1/2", fees="3/4", payment="May 12")
    engine.add(Article(id="norrland", text=first, title="NORRLAND KRAFT ISSUES ECU EUROBOND"))
    result = engine.add(Article(id="sarno", text=second, title="CASSA DI SARNO ISSUES DOLLAR BOND"))
    match = engine.relation_to("sarno", "norrland")
    assert match.own_words >= engine.config.version  # enough shared words for a version ...
    assert max(p.tokens for p in match.passages) < engine.config.version_run_tokens  # ... in short runs
    assert match.relation not in COPY_RELATIONS
    assert result.cluster == "sarno" and result.cluster_size == 1


def test_a_match_seen_from_either_side_lists_its_runs_in_that_sides_text_order():
    """A version moves a paragraph: the runs are in a different order in the two texts. The
    answer must not depend on which side the index happened to record the match from."""
    runs = (SharedPassage(0, 40, 300, 340, 8), SharedPassage(50, 90, 10, 50, 8), SharedPassage(100, 140, 120, 160, 8))
    match = Match(a="x", b="y", relation="version", similarity=0.7, jaccard=0.5, containment_a=0.6,
                  containment_b=0.6, own_words=0.7, story=0.9, shared_tokens=24, passages=runs)
    mirrored = StoredMatch.of(match).match(seen_from="y")
    assert [(p.a_start, p.b_start) for p in mirrored.passages] == [(10, 50), (120, 100), (300, 0)]
    assert StoredMatch.of(mirrored).match(seen_from="x").passages == runs


def test_stored_matches_give_back_exactly_what_verification_found(engine, seed_articles):
    docs = engine.analyse([seed_articles["000"], seed_articles["004"], seed_articles["001"]])
    for a, b in ((docs[0], docs[1]), (docs[1], docs[2]), (docs[0], docs[2])):
        match = compare(a, b, engine.config)
        assert match.passages  # the seeds share runs: the packed passages are exercised
        stored = StoredMatch.of(match)
        assert stored.match() == match == stored.match(seen_from=match.a)
        assert pickle.loads(pickle.dumps(stored)).match() == match
        mirrored = stored.match(seen_from=match.b)
        assert (mirrored.a, mirrored.b) == (match.b, match.a)
        assert (mirrored.containment_a, mirrored.containment_b) == (match.containment_b, match.containment_a)
        # Seen from the other side, the same runs in that side's text order.
        assert [(p.a_start, p.b_start, p.tokens) for p in mirrored.passages] == \
            sorted((p.b_start, p.a_start, p.tokens) for p in match.passages)


def _match_with(passages: tuple[SharedPassage, ...], a: str = "x", b: str = "y") -> Match:
    return Match(a=a, b=b, relation="near_duplicate", similarity=0.9, jaccard=0.8, containment_a=0.9,
                 containment_b=0.9, own_words=0.9, story=1.0, shared_tokens=sum(p.tokens for p in passages),
                 passages=passages)


def test_passages_pack_in_two_bytes_a_field_unless_an_offset_needs_four():
    short = (SharedPassage(0, 400, 120, 520, 70), SharedPassage(65_000, 65_535, 900, 1_400, 90))
    long = (SharedPassage(0, 400, 120, 520, 70), SharedPassage(70_000, 71_000, 65_536, 66_536, 180))
    for runs, width in ((short, 2), (long, 4), ((), None)):
        stored = StoredMatch.of(_match_with(runs))
        assert len(stored.passages) == (0 if width is None else 1 + 5 * width * len(runs))
        assert stored.match().passages == runs
        assert [(p.b_start, p.a_start) for p in stored.match(seen_from="y").passages] == \
            sorted((p.a_start, p.b_start) for p in runs)


def test_compacting_the_match_records_keeps_each_ones_passages():
    """Records hold passages of different lengths and widths, back to back: after dropping the
    dead ones, each live record still reads exactly its own."""
    store = edges.EdgeStore(lambda n: f"d{n}", min_tokens=0)
    level = store.level(frozenset({"near_duplicate"}))
    runs = [tuple(SharedPassage(k * 100 + i, k * 100 + i + 50, i * big, i * big + 9, 10 + i) for i in range(k % 4))
            for k, big in zip(range(12), [1, 70_000] * 6)]
    keys = [store.add(k, k + 1, StoredMatch.of(_match_with(r, f"d{k}", f"d{k + 1}"))) for k, r in enumerate(runs)]
    for key in keys[::3]:
        level.link(key)
    renumbered = store.compact()
    assert len(store) == 4
    for old in keys:
        if old % 3:
            assert renumbered[old] == -1
        else:
            assert store.match(int(renumbered[old])).passages == runs[old]
            assert store.spans(int(renumbered[old]), side_a=False) == [(p.b_start, p.b_end) for p in runs[old]]


def _earnings_notices(count: int, seed: int = 0, terse: bool = False) -> list[Article]:
    """Earnings notices of made-up companies, cast in one wire formula with their own figures;
    `terse` ones put a figure between every two words of the formula, so two notices share
    its terms but no run of words."""
    rng = random.Random(seed)
    starts = ["Ar", "Bel", "Cor", "Dun", "El", "Fen", "Gal", "Har", "In", "Jas", "Kes", "Lo", "Mar", "Nor", "Oak"]
    ends = ["bor", "den", "vex", "more", "hart", "wick", "van", "low", "gram", "per", "trel", "max", "ross"]
    names = [start + end for start in starts for end in ends]  # made-up, rarely shared by two notices
    kinds = ["Industries", "Bancorp", "Holdings", "Resources", "Systems"]

    def figure() -> str:
        return str(rng.randint(10, 999))

    notices = []
    for i in range(count):
        company = f"{rng.choice(names)} {rng.choice(names)} {rng.choice(kinds)}"
        if terse:
            text = (f"{company} qtr {figure()} net {figure()} shr {figure()} cts {figure()} revs {figure()} "
                    f"mln {figure()} avg {figure()} shrs {figure()} Reuter")
            notices.append(Article(id=f"notice-{i}", text=text))
            continue
        text = (f"{company} 4th qtr net\nShr {figure()} cts vs {figure()} cts\n"
                f"Net {figure()},{figure()},000 vs {figure()},{figure()},000\n"
                f"Revs {figure()}.{rng.randint(1, 9)} mln vs {figure()}.{rng.randint(1, 9)} mln\n"
                f"Avg shrs {figure()},{figure()} vs {figure()},{figure()}\nReuter")
        notices.append(Article(id=f"notice-{i}", text=text))
    return notices


def test_a_wire_formula_found_all_over_the_collection_is_no_evidence_of_one_story(seed_articles):
    """Notices of different companies share their formula's terms ("shr", "qtr", "revs"), which
    general English rarely uses: they pass for rewrites of one story until the collection
    shows the formula everywhere; then the rewrite matches they made are dropped."""
    notices = _earnings_notices(60)
    blind = Engine(Config(common_term_documents=1_000_000))  # terms never turn common
    assert max(blind.add(notice).story_size for notice in notices) >= 50
    engine = Engine(Config(common_term_documents=10))
    linked_early = [engine.add(notice).story_size for notice in notices]
    assert max(linked_early[:9]) > 1  # before the formula turned common
    assert max(engine.get(notice.id).story_size for notice in notices) <= 2
    for article in seed_articles.values():  # real rewrites share more than a formula
        engine.add(article)
    assert set(engine.cluster("000", level="story").members) == set(seed_articles)


def test_a_pickled_engine_turns_terms_common_when_the_original_would():
    notices = _earnings_notices(80, seed=1)
    config = Config(common_term_documents=10)
    straight = Engine(config)
    for notice in notices:
        straight.add(notice)
    first = Engine(config)
    for notice in notices[:35]:
        first.add(notice)
    resumed = pickle.loads(pickle.dumps(first))
    for notice in notices[35:]:
        resumed.add(notice)
    assert len(resumed._common_terms) == len(straight._common_terms) > 0
    assert [resumed.get(n.id) for n in notices] == [straight.get(n.id) for n in notices]


def test_screening_by_specific_terms_drops_only_candidates_verification_would_refuse(monkeypatch, seed_articles):
    """Once a formula's terms are common, story candidates that share no text with an article
    are screened by the rewrite test's specific similarity before verification. Every answer
    is the one an engine that verifies them all gives, with fewer pairs verified."""
    articles = _earnings_notices(80, seed=4, terse=True) + list(seed_articles.values())
    config = Config(common_term_documents=10)
    verified = {}
    for name, screen in (("plain", lambda doc, others, cfg, common: verify.worth_verifying(doc, others, cfg)),
                         ("specific", verify.worth_verifying)):
        count = {"pairs": 0}
        monkeypatch.setattr(engine_module, "worth_verifying", screen)
        real_related = engine_module.related_stored

        def counted(*args, **kwargs):
            count["pairs"] += 1
            return real_related(*args, **kwargs)

        monkeypatch.setattr(engine_module, "related_stored", counted)
        engine = Engine(config)
        for article in articles:
            engine.add(article)
        verified[name] = (count["pairs"], [engine.get(a.id) for a in articles])
        monkeypatch.setattr(engine_module, "related_stored", real_related)
    assert verified["specific"][1] == verified["plain"][1]
    assert verified["specific"][0] < verified["plain"][0]


def test_notices_filled_into_one_template_are_not_copies_once_the_template_is_common():
    """Notices of different issuers share a whole sentence of the template, so they pass for
    versions by their text; once the collection shows the template's terms everywhere, what
    is left specific to each (issuer, manager, figures) is not shared, and they are not
    copies. A real update of one notice keeps its names, and stays a version."""
    notices = bond_notices(40)
    blind = Engine(Config(copy_specific=0.0))
    assert max(blind.add(notice).cluster_size for notice in notices) >= 20
    engine = Engine(Config(common_term_documents=10))
    for notice in notices:
        engine.add(notice)
    assert max(engine.get(notice.id).cluster_size for notice in notices) == 1
    first = notices[0]
    update = Article(id="bond-0-update", title=first.title, text=first.text.replace(
        "\nReuter", "\nThe issue was increased from an initial amount after strong demand from "
                     "Swiss and German investors, the lead manager said.\nReuter"))
    assert engine.add(update).cluster == first.id
    assert engine.relation_to(update.id, first.id).relation in COPY_RELATIONS


def test_a_lede_reprinted_by_teaser_pages_stays_evidence_and_a_sites_pitch_does_not(seed_articles, topic_articles):
    """Teaser pages reprint a story's first paragraph in a site's chrome, so the lede recurs in
    many pages, most of them a few lines long. Such a page tells the source's story though its
    terms are a small part of the source's (a cosine under the rewrite bar): what it holds
    beyond the words the collection shows everywhere (the site's pitch) is all in the source.
    The lede stays evidence and each teaser is a copy; the pitch, recurring under unrelated
    stories, is boilerplate."""
    pitch = CHROME_TAIL[1]
    sites = [f"Site {i} | News | Sport" for i in range(6)]
    engine = Engine(Config(common_term_documents=10))
    for site in sites[:4]:  # the sites' pages seen before, each with the pitch
        for other in topic_articles.values():
            engine.add(Article(id=f"{site}/{other.id}", text="\n".join([site, other.text, pitch])))
    source = seed_articles["002"]
    engine.add(source)
    lede = engine.document(source.id).body_text().split("\n")[0]
    copies = [Article(id=f"copy-{i}", text="\n".join(CHROME_HEAD + [source.text] + CHROME_TAIL)) for i in range(2)]
    teasers = [Article(id=f"teaser-{i}", text="\n".join([site, lede, "Most read", pitch])) for i, site in enumerate(sites)]
    for article in copies + teasers:
        engine.add(article)
    assert _block_hash(engine, teasers[0].id, pitch) in engine._common.common
    assert _block_hash(engine, teasers[0].id, lede) not in engine._common.common
    for teaser in teasers:
        assert engine.get(teaser.id).cluster == source.id
        assert engine.relation_to(teaser.id, source.id).relation in COPY_RELATIONS


def _block_hash(engine: Engine, article_id: str, line: str) -> int:
    """The hash of the block of an indexed document that is this line of its text."""
    doc = engine.document(article_id)
    (found,) = [h for (lo, hi), h in zip(doc.block_bounds.tolist(), doc.block_hashes.tolist())
                if hi > lo and line.startswith(doc.text[doc.token_starts[lo]:doc.token_ends[hi - 1]])]
    return found


def test_a_review_spread_over_later_adds_ends_where_one_done_at_once_does(monkeypatch):
    """A review of newly common terms goes through a few matches per add (so no add waits for
    a pass over all of them); an engine pickled half-way goes on with it at the same adds as
    the original, and once it ends every copy kept holds what is specific, as after a review
    done at once."""
    notices = bond_notices(60, seed=1) + _earnings_notices(60, seed=2)
    config = Config(common_term_documents=10)
    whole = Engine(config)
    for notice in notices:
        whole.add(notice)
    monkeypatch.setattr(engine_module, "_REVIEW_SLICE", 3)
    spread, pending = Engine(config), []
    resumed = None
    for i, notice in enumerate(notices):
        spread.add(notice)
        pending.append(spread._review is not None)
        if resumed is not None:
            resumed.add(notice)
        elif i >= 30 and spread._review is not None:
            resumed = pickle.loads(pickle.dumps(spread))
            assert resumed._review.position == spread._review.position > 0
    assert sum(pending) >= 5 and resumed is not None
    assert _linked(resumed) == _linked(spread)
    assert [resumed.get(n.id) for n in notices] == [spread.get(n.id) for n in notices]
    spread.finish_review()
    common = spread._common_terms.common
    for relation in ("near_duplicate", "syndicated", "version"):
        for a, b in _matches_of(spread, spread.copies, relation):
            assert verify.specific_share(a, b, common) >= config.copy_specific
    assert [spread.get(n.id).cluster for n in notices] == [whole.get(n.id).cluster for n in notices]


def _linked(engine: Engine) -> list[tuple]:
    """Every match each level links: its relation and the two articles."""
    return sorted((level_name, relation, *map(engine._id_of, engine._edges.ends(key)))
                  for level_name, level in (("copy", engine.copies), ("story", engine.stories))
                  for relation in verify.RELATIONS for key in level.keys_of(relation))


def _reviews_while_adding(articles: list[Article], check) -> int:
    """Add `articles` to an engine whose terms turn common at 10 documents, calling
    `check(engine, common_terms)` after each add; how many adds turned terms common."""
    engine = Engine(Config(common_term_documents=10))
    reviews = 0
    for article in articles:
        common_before = len(engine._common_terms)
        engine.add(article)
        reviews += len(engine._common_terms) > common_before
        check(engine, engine._common_terms.common)
    return reviews


def _matches_of(engine: Engine, level, relation: str):
    """The screening fields of both sides of every match of `relation` at `level`."""
    for key in level.keys_of(relation):
        yield tuple(engine._docs.screening(node) for node in engine._edges.ends(key))


@pytest.mark.parametrize("seed", range(3))
def test_after_every_review_each_copy_kept_still_shares_what_is_specific(seed):
    """A review that turns terms common verifies again every copy whose sides no longer share
    enough of their specific terms: after each one, every copy match but an exact one does."""
    def check(engine, common):
        for relation in ("near_duplicate", "syndicated", "version"):
            for a, b in _matches_of(engine, engine.copies, relation):
                assert verify.specific_share(a, b, common) >= engine.config.copy_specific

    assert _reviews_while_adding(bond_notices(60, seed=seed), check) >= 2


@pytest.mark.parametrize("seed", range(3))
def test_after_every_review_each_rewrite_kept_is_still_alike_in_its_specific_terms(seed):
    """A review that turns terms common drops every rewrite match that falls under the bar,
    whatever order the matches were stored in; matches it keeps only gained."""
    rewrites = []

    def check(engine, common):
        for a, b in _matches_of(engine, engine.stories, "rewrite"):
            assert story_similarity(a, b, common) >= engine.config.rewrite_specific
        rewrites.append(engine.stories.edge_count())

    assert _reviews_while_adding(_earnings_notices(150, seed=seed), check) >= 3 and rewrites[-1] > 0


def test_stored_matches_are_renumbered_without_changing_an_answer(monkeypatch, seed_articles):
    """Deleted articles and reviews leave records no level links; compacting them away keeps
    every match, cluster and answer."""
    articles = _earnings_notices(60, seed=3) + list(seed_articles.values())
    config = Config(common_term_documents=10)
    kept, compacted = Engine(config), Engine(config)
    for engine, eager in ((kept, False), (compacted, True)):
        if eager:
            monkeypatch.setattr(edges, "_COMPACT_AFTER", 1)
            monkeypatch.setattr(edges, "_COMPACT_SHARE", 0.0)  # at every dead record
        for article in articles:
            engine.add(article)
        for article in articles[::4]:
            engine.delete(article.id)
    assert compacted._edges.dead() == 0 < kept._edges.dead() and len(compacted._edges) < len(kept._edges)
    for engine in (kept, compacted):  # the running count of dead records is right
        linked = [level.linked_mask() for level in engine._edges._levels]
        assert engine._edges.dead() == len(engine._edges) - sum(np.logical_or.reduce(linked))
    monkeypatch.setattr(edges, "_COMPACT_AFTER", 1 << 60)
    for engine in (kept, compacted):
        engine.add(Article(id="late", text=seed_articles["004"].text))
    remaining = [a.id for a in articles[1::4] + articles[2::4] + articles[3::4]] + ["late"]
    assert [compacted.get(i) for i in remaining] == [kept.get(i) for i in remaining]
    assert [compacted.cluster(i, "story") for i in remaining] == [kept.cluster(i, "story") for i in remaining]
    for other in remaining:
        assert compacted.relation_to("late", other) == kept.relation_to("late", other)


def _assert_summaries_agree(engine: Engine, ids: list[str]) -> None:
    for article_id in ids:
        full, brief = engine.get(article_id), engine.summary(article_id)
        assert [(m.b, m.relation, m.similarity) for m in full.matches] == [tuple(m) for m in brief.matches]
        for field in ("id", "cluster", "cluster_size", "story", "story_size", "canonical", "story_canonical",
                      "relation", "similarity"):
            assert getattr(brief, field) == getattr(full, field), (article_id, field)


def test_a_summary_tells_what_the_full_result_does(engine, seed_articles, topic_articles):
    from conftest import syndicated_corpus

    articles, _ = syndicated_corpus([*seed_articles.values(), *topic_articles.values()])
    for article in articles:
        engine.add(article)
    _assert_summaries_agree(engine, [a.id for a in articles])
    assert any(len(engine.summary(a.id).matches) > 1 for a in articles)


def test_a_summary_relates_an_article_to_a_canonical_it_has_no_match_with(engine, seed_articles):
    # Two excerpts of one story that overlap only in a few paragraphs of its middle (too little
    # to match), and the whole story: the later excerpt reaches the earlier one, its cluster's
    # canonical, only through the whole.
    paras = [p for p in seed_articles["002"].text.split("\n") if len(p.split()) > 12]
    cut1, cut2 = int(len(paras) * 0.4), int(len(paras) * 0.6)
    first, middle, last = paras[:cut1], paras[cut1:cut2], paras[cut2:]
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for article in [Article(id="excerpt-early", text="\n".join(first + middle), published_at=start),
                    Article(id="excerpt-late", text="\n".join(middle + last), published_at=start.replace(hour=2)),
                    Article(id="whole", text="\n".join(paras), published_at=start.replace(hour=1))]:
        engine.add(article)
    late = engine.summary("excerpt-late")
    assert late.canonical == "excerpt-early" and [m.b for m in late.matches] == ["whole"]
    assert late.relation is None and 0 < late.similarity < 1  # verified against the canonical now
    _assert_summaries_agree(engine, ["excerpt-early", "excerpt-late", "whole"])


def test_summaries_of_many_answer_as_one_at_a_time_even_when_the_index_changes_between(engine, seed_articles,
                                                                                        topic_articles):
    """`summaries` finds each cluster's size and canonical once for all its members: the
    answers must be `summary`'s, also for a member asked about after a new copy joined its
    cluster (and became its canonical)."""
    from conftest import syndicated_corpus

    articles, _ = syndicated_corpus([*seed_articles.values(), *topic_articles.values()])
    for article in articles:
        engine.add(article)
    ids = [a.id for a in articles]
    assert list(engine.summaries(ids)) == [engine.summary(i) for i in ids]
    assert any(s.cluster_size > 2 for s in engine.summaries(ids))

    # Two members of one copy cluster of the collection; a copy joins it between them.
    cluster = engine.cluster("000").members
    assert len(cluster) > 2
    walk = engine.summaries([cluster[0], cluster[1]])
    assert next(walk).cluster_size == len(cluster)
    earlier = datetime(2000, 1, 1, tzinfo=timezone.utc)
    engine.add(Article(id="000-copy", text=seed_articles["000"].text, published_at=earlier))
    (second,) = walk
    assert second == engine.summary(cluster[1])
    assert (second.cluster_size, second.canonical) == (len(cluster) + 1, "000-copy")
