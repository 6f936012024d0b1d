"""Structural boilerplate: the blocks of a page that are not the article.

Decided per document from layout and cohesion alone, so a block's label never depends on
which other documents are indexed:

- ``short``: a block too short to be prose ("Share this post", "0:00", "Image 1 of 3"),
  unless it is one of three or more consecutive short lines with figures (a table), or the
  page is a brief (a few lines around under two sentences' worth of prose: a dividend
  notice's "Pay April 15", "Record March 31" are what tell it from the next notice);
- ``repeat``: a block already seen earlier on the page (captions and headlines that
  pages print twice);
- ``code``: markup or script that leaked into the text;
- ``peripheral``: a run of blocks at the head or tail of the page that shares no topic with
  the article's core: related-story teasers, newsletter and comment widgets, navigation.

Recurrence across documents is the other signal (see `dedup.commonness`); it is collection
state and is applied when matches are verified.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from dedup.segment import ends_sentence
from dedup.terms import BlockTerms

BODY = "body"
SHORT = "short"
REPEAT = "repeat"
CODE = "code"
PERIPHERAL = "peripheral"

# Signs of markup or script: these characters, "()", and a few words. Two patterns, not one
# alternation: a regex whose matches start with known characters skips ahead to them, one
# that may start at a word boundary tries every position (8% of analysing a news page).
_CODE_SIGN = re.compile(r"[{};=<>]|\(\)")
# A name in angle brackets is a wire's notation for a company or its ticker ("Waste Management
# Inc <WNX>", "<Hutchison Whampoa Ltd>"), not markup or a comparison.
_BRACKETED_NAME = re.compile(r"<[A-Za-z0-9][^<>=;{}()/\"']*>")
_CODE_WORD = re.compile(r"\b(?:function|var|window|document)\b")
_ASCII_DIGIT = re.compile("[0-9]")


def classify_blocks(
    texts: Sequence[str],
    keys: Sequence[Sequence[str]],
    terms: BlockTerms,
    *,
    min_tokens: int = 4,
    min_sentence_tokens: int = 8,
    core_cohesion: float = 0.3,
    min_core_blocks: int = 3,
    max_brief_blocks: int = 8,
    titled: bool = False,
) -> list[str]:
    """Label each block of one document.

    Args:
        texts: the blocks' repaired text.
        keys: the blocks' folded tokens.
        terms: the story terms of each block.
        min_tokens: blocks with fewer tokens are ``short``.
        min_sentence_tokens: blocks with fewer tokens that do not end like a sentence are
            ``short`` too (navigation, bylines, credits).
        core_cohesion: weighted share of a block's terms that must recur in non-adjacent
            blocks for it to belong to the article's core.
        min_core_blocks: peripheral runs are only cut from a page whose core has at least
            this many blocks; a short page has no core to tell the periphery from.
        max_brief_blocks: a page of at most this many blocks (its title left out) whose
            prose is under two sentences' worth of tokens is a brief: its short lines are body.
        titled: block 0 is a separately given title (not counted as the brief's prose).
    Returns:
        one label per block: ``body`` or the reason it is boilerplate.
    """
    labels = [BODY] * len(texts)
    seen: set[tuple[str, ...]] = set()
    for i, (text, toks) in enumerate(zip(texts, keys)):
        n = len(toks)
        if n < min_tokens or (n < min_sentence_tokens and not ends_sentence(text)):
            labels[i] = SHORT
        elif _looks_like_code(text, n):
            labels[i] = CODE
        else:
            key = tuple(toks)
            if key in seen:
                labels[i] = REPEAT
            seen.add(key)
    _keep_tables(labels, texts, keys)
    _mark_periphery(labels, terms, core_cohesion, min_core_blocks)
    if all(label != BODY for label in labels):
        # A page that is all "chrome" by these rules (a tweet, a headline list) is still a
        # document: compare it on everything it has rather than on nothing.
        return [BODY if label in (SHORT, PERIPHERAL) else label for label in labels]
    first = 1 if titled else 0
    prose = sum(len(k) for k, label in zip(keys[first:], labels[first:]) if label == BODY)
    if len(labels) - first <= max_brief_blocks and prose < 2 * min_sentence_tokens:
        # A brief (a dividend notice: one formula sentence, then "Pay April 15", "Record
        # March 31") has no chrome: its short lines are what tells it from the next one.
        return [BODY if label == SHORT and toks else label for label, toks in zip(labels, keys)]
    return labels


def _keep_tables(labels: list[str], texts: Sequence[str], keys: Sequence[Sequence[str]], min_rows: int = 3) -> None:
    """Runs of short lines that carry figures are a table (results, prices), not chrome."""
    def is_row(i: int) -> bool:
        return labels[i] == SHORT and len(keys[i]) >= 3 and _has_digit(texts[i])

    i = 0
    while i < len(labels):
        j = i
        while j < len(labels) and is_row(j):
            j += 1
        if j - i >= min_rows:
            labels[i:j] = [BODY] * (j - i)
        i = max(j, i + 1)


def _has_digit(text: str) -> bool:
    """Whether a character of `text` is a digit (`str.isdigit`: superscripts count, as they do
    in results tables), by a regex where the text is ASCII, not a test per character."""
    if text.isascii():
        return _ASCII_DIGIT.search(text) is not None
    return any(ch.isdigit() for ch in text)


def _looks_like_code(text: str, n_tokens: int) -> bool:
    signs = _CODE_SIGN.findall(text)
    if len(signs) >= 3 and "<" in text:
        signs = _CODE_SIGN.findall(_BRACKETED_NAME.sub(" ", text))
    # Signs of one kind only are punctuation: a list's semicolons ("director - Clint Eastwood;
    # actor - Jamie Foxx; actress - Hilary Swank").
    hints = len(signs) if signs and len(set(signs)) > 1 else 0
    if not (hints >= 3 and hints * 6 >= n_tokens) and (
            "var" in text or "function" in text or "window" in text or "document" in text):
        hints += len(_CODE_WORD.findall(text))
    return hints >= 3 and hints * 6 >= n_tokens


def _mark_periphery(
    labels: list[str],
    terms: BlockTerms,
    core_cohesion: float,
    min_core_blocks: int,
) -> None:
    body = [i for i, label in enumerate(labels) if label == BODY]
    if len(body) < min_core_blocks:
        return
    cohesion = terms.cohesion(body)
    core = [rank for rank, c in enumerate(cohesion) if c >= core_cohesion]
    if len(core) < min_core_blocks:
        return
    # Only blocks that share (almost) nothing with the article are cut. Before the core: an
    # article's opening paragraph is often less cohesive than the rest, and it matters most.
    # After the core, the first such block starts the page's periphery ("related stories"
    # boxes, sign-up calls, footers), and the whole run from it on is cut, neighbouring
    # topics and all; the article's own closing paragraphs, whose terms recur in fewer blocks
    # two places away, stay before it.
    for rank in range(core[0]):
        if cohesion[rank] < core_cohesion / 2:
            labels[body[rank]] = PERIPHERAL
    tail = next((rank for rank in range(core[-1] + 1, len(body)) if cohesion[rank] < core_cohesion / 2), len(body))
    for rank in range(tail, len(body)):
        labels[body[rank]] = PERIPHERAL
