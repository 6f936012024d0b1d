"""Per-page boilerplate: short lines, tables, repeats, and the periphery around the core."""
from __future__ import annotations

import pytest

from dedup.boilerplate import BODY, CODE, PERIPHERAL, REPEAT, SHORT, _has_digit, classify_blocks
from dedup.normalise import token_key
from dedup.segment import tokenize
from dedup.terms import BlockTerms, TermWeigher

WEIGHER = TermWeigher("en")


def _labels(blocks: list[str]) -> list[str]:
    keys = [[token_key(w) for w in tokenize(b)[0]] for b in blocks]
    return classify_blocks(blocks, keys, BlockTerms.of_blocks(WEIGHER, keys))


ARTICLE = [
    "NEW YORK -- The streaming company is backpedaling on its recently announced conduct policy after "
    "industry players criticized it, saying it created confusion and concern among musicians.",
    "Last month the streaming company said it would remove from its playlists music from two rappers "
    "accused of abuse, citing its conduct policy for hateful content.",
    "Some musicians praised the decision on the playlists, but others criticized the streaming company, "
    "saying the policy targeted specific rappers.",
    "The streaming company said Friday it is moving away from a conduct policy for musicians and will "
    "restore the rappers to its playlists.",
    "Advocacy groups that praised the streaming company for the policy said the reversal lets abusers "
    "profit from playlists.",
]
TEASERS = [
    "Moldova's pro-EU party wins clear parliamentary majority",
    "Moldova's pro-Western governing party won a clear parliamentary majority, defeating pro-Russian groups.",
    "Neglected form of diabetes with unusual symptoms finally gets its own name",
    "An unusual type of diabetes linked to malnutrition now has a name, scientists said on Monday.",
]


def test_the_opening_paragraph_is_body_and_tail_teasers_are_not():
    labels = _labels(ARTICLE + TEASERS)
    assert labels[: len(ARTICLE)] == [BODY] * len(ARTICLE)
    assert all(label in (PERIPHERAL, SHORT) for label in labels[len(ARTICLE):])


# Closing paragraphs that move on to the company's results: fewer of their terms recur two
# blocks away than in the article's core (cohesion ~0.27 against 0.46-0.77), yet they are its text.
CLOSING = [
    "Executives of the streaming company told investors that dropping the conduct policy for musicians "
    "would not change revenue forecasts, and analysts expected subscriber growth abroad to continue.",
    "Analysts said listeners cared more about subscription prices than about the playlists, and the "
    "company's shares closed slightly higher in New York on Friday.",
]


def test_an_articles_less_cohesive_closing_paragraphs_are_body_and_the_teasers_after_them_are_not():
    labels = _labels(ARTICLE + CLOSING + TEASERS)
    assert labels[: len(ARTICLE) + len(CLOSING)] == [BODY] * (len(ARTICLE) + len(CLOSING))
    assert all(label in (PERIPHERAL, SHORT) for label in labels[len(ARTICLE) + len(CLOSING):])


def test_a_foreign_block_before_the_article_is_peripheral():
    labels = _labels(["Sign up for the morning newsletter with recipes, crosswords and weather forecasts for your area."]
                     + ARTICLE)
    assert labels[0] == PERIPHERAL and labels[1:] == [BODY] * len(ARTICLE)


def test_short_lines_repeats_and_tables():
    table = ["Shr 15 cts vs 14 cts", "Net 2,028,000 vs 1,879,000", "Revs 32.1 mln vs 29.5 mln"]
    labels = _labels(["Share this post", ARTICLE[0], ARTICLE[0]] + table)
    assert labels[0] == SHORT and labels[1] == BODY and labels[2] == REPEAT
    assert labels[3:] == [BODY] * 3


def test_a_briefs_short_lines_are_its_body_and_a_pages_navigation_is_not():
    brief = ["Qtly div 10 cts vs 10 cts prior", "Pay April 13", "Record March 13", "Reuter"]
    assert _labels(brief) == [BODY] * 4
    navigation = ["Home", "World", "Business", "Sport", "Weather", "Video", "Share this", "Subscribe", "Sign in"]
    labels = _labels(navigation + brief[:1])
    assert labels[-1] == BODY and set(labels[:-1]) == {SHORT}


def test_leaked_script_is_code_and_prose_naming_its_words_is_not():
    script = "var ad = window.ads || []; function show() { document.getElementById('slot').style = 'block'; }"
    prose = ("The document was left in a window of the ministry, where officials said the function of "
             "the var committee was to vote on the budget today.")
    signs_only = "$(slot).on('click', show => { shown = 1; count = count + 1; }); if (a < b) { reset(); }"
    words_only = "function var window document " * 3 + "are the words."
    one_word = "var a1 var b2 var c3 var d4 var e5 end."
    labels = _labels(ARTICLE[:2] + [script, prose, signs_only, words_only, one_word] + ARTICLE[2:])
    assert labels[2:7] == [CODE, BODY, CODE, CODE, CODE]


def test_a_wires_bracketed_names_and_a_lists_semicolons_are_not_code():
    lede = ("ChemLawn Corp <CHEM> could attract a higher bid than the 27 dlrs per share offered by Waste "
            "Management Inc <WNX>, Wall Street arbitrageurs said.")
    owners = "Union Faith is equally owned by <Hutchison Whampoa Ltd> and <Hong Kong Electric Holdings Ltd>."
    picks = "Tim Dams, Screen International: Film - The Aviator; director - Clint Eastwood; actor - Jamie Foxx; actress - Hilary Swank."
    markup = 'Read more: <a href="/story/1">the council vote</a> <span class="x">and the budget</span>; {x = 1}'
    labels = _labels(ARTICLE[:2] + [lede, owners, picks, markup] + ARTICLE[2:])
    assert labels[2:6] == [BODY, BODY, BODY, CODE]


@pytest.mark.parametrize("text,expected", [("Results", False), ("Arsenal 2 Chelsea", True), ("x\u00b2 and y", True),
                                           ("caf\u00e9 ol\u00e9", False), ("\u0663 goals", True)])
def test_a_row_of_figures_is_told_by_its_digits_as_str_isdigit_tells_them(text, expected):
    assert _has_digit(text) is expected is any(ch.isdigit() for ch in text)
