"""Shared fixtures: the seed articles, topic articles and a generated syndication corpus."""
from __future__ import annotations

import gc
import os
import random
from pathlib import Path

# As `dedup serve` does: the test process forks snapshot writers (tests/test_snapshot.py) after
# other tests have started gRPC servers and channels in it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import pytest

from dedup.article import Article
from dedup.config import Config
from dedup.engine import Engine


@pytest.fixture(autouse=True)
def _free_garbage_between_tests():
    """Free what a test left as cyclic garbage here: gRPC objects among it, freed instead in
    a process a later test forks (an analysis pool's worker, a snapshot writer), can deadlock
    that child, since gRPC is not fork-safe."""
    yield
    gc.collect()


DATA = Path(__file__).parent / "data"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seed_articles() -> dict[str, Article]:
    """The five seed articles, keyed by their number ("000" ... "004")."""
    return {p.name[:3]: Article(id=p.name[:3], text=_read(p)) for p in sorted((DATA / "seeds").glob("*.txt"))}


@pytest.fixture(scope="session")
def topic_articles() -> dict[str, Article]:
    """Articles on the topics of the teasers appended to seeds 000 and 001 (written for the tests)."""
    return {p.stem: Article(id=f"topic-{p.stem}", text=_read(p)) for p in sorted((DATA / "topics").glob("*.txt"))}


@pytest.fixture
def engine() -> Engine:
    return Engine(Config())


CHROME_HEAD = [
    "Skip to main content",
    "Home | World | Politics | Business | Sports | Opinion",
    "Advertisement",
]
CHROME_TAIL = [
    "Share this article",
    "Sign up for our morning newsletter and get the top stories in your inbox every day.",
    "Copyright 2025 The Daily Example. All rights reserved.",
]


def syndicated_corpus(articles: list[Article], seed: int = 7) -> tuple[list[Article], dict[str, str]]:
    """Each article plus copies in other page chrome and truncated copies, with the true copy cluster.

    A small, deterministic stand-in for the benchmark generator, used by property tests.
    """
    rng = random.Random(seed)
    out, truth = [], {}
    for art in articles:
        paras = [p for p in art.text.split("\n") if p.strip()]
        out.append(art)
        truth[art.id] = art.id
        wrapped = "\n".join(CHROME_HEAD + paras + CHROME_TAIL)
        out.append(Article(id=f"{art.id}/wrapped", text=wrapped))
        truth[f"{art.id}/wrapped"] = art.id
        keep = max(3, int(len(paras) * rng.uniform(0.6, 0.9)))
        out.append(Article(id=f"{art.id}/truncated", text="\n".join(paras[:keep])))
        truth[f"{art.id}/truncated"] = art.id
    rng.shuffle(out)
    return out, truth


BOND_NOTICE = (
    "{issuer} is issuing a {amount} mln {currency} eurobond due {due} paying {coupon} pct and priced "
    "at {price} pct, lead manager {manager} said.\n"
    "The non-callable bond is available in denominations of {denomination} {currency} and will be "
    "listed in {listing}. The selling concession is {concession} pct while management and "
    "underwriting combined pays {fees} pct.\nThe payment date is {payment}.\nReuter"
)


def bond_notices(count: int, seed: int = 0) -> list[Article]:
    """Eurobond notices of made-up issuers filled into `BOND_NOTICE`, whose middle sentence
    (denominations, listing, fees) is a whole sentence of text every notice shares."""
    rng = random.Random(seed)
    syllables = ["ar", "bel", "cor", "dun", "fen", "gal", "har", "jas", "kes", "mar", "nor", "oak", "vex", "wick",
                 "trel", "ross", "lund", "pim", "sov", "zel"]

    used = set()

    def name() -> str:  # made-up, and never given twice
        while (made := "".join(rng.sample(syllables, 3)).capitalize()) in used:
            pass
        used.add(made)
        return made

    months = ["January", "March", "May", "June", "July", "October"]
    notices = []
    for i in range(count):
        payment = f"{rng.choice(months)} {rng.randint(1, 28)}"
        notices.append(Article(id=f"bond-{i}", title=f"{name().upper()} ISSUES EUROBOND", text=BOND_NOTICE.format(
            issuer=f"{name()} {name()} AB", amount=rng.randint(20, 500), currency=rng.choice(["dlr", "Ecu", "yen"]),
            due=f"{payment}, {rng.randint(1990, 1999)}", coupon=f"{rng.randint(5, 11)}-1/8",
            price=f"{rng.randint(99, 102)}-1/4", manager=f"{name()} {name()} Securities", denomination="5,000",
            listing="Luxembourg", concession="1-3/8", fees="5/8", payment=payment)))
    return notices
