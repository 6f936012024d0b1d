from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.normalise import _TYPOGRAPHY, repair

# Everything `repair` treats specially but mojibake (ftfy is slow, and tested on its own).
_ALPHABET = "ab \n" + "".join(_TYPOGRAPHY) + "\u1680\u2000\u2003\u200a\u205f\u3000\x00\x01\x1f\x7f\x85\x9f\ufb01\u2026&;#"


def _plain_repair(text: str) -> str:
    """What `repair` does to text without mojibake, in the plainest form: a translation
    table and a regex over every Unicode space, as it was written before it was made fast."""
    table = str.maketrans(_TYPOGRAPHY)
    text = re.sub("Â(?=\\s|$)", " ", text)
    if re.search(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});", text):
        import html
        text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text).translate(table)
    text = re.sub("[\x00-\x09\x0e-\x1f\x7f-\x9f]", "", text)
    text = re.sub("[ \u1680\u2000-\u200a\u205f\u3000]+", " ", text)
    return text.translate(table)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_repair_is_the_plain_translation_and_space_collapse(text):
    assert repair(text) == _plain_repair(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_ascii_text_is_repaired_by_the_same_rules(text):
    # Plain ASCII takes a shorter path (compiled, where built): the same rules must hold.
    assert repair(text) == _plain_repair(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_repair_is_idempotent_without_character_references(text):
    text = text.replace("&", "")
    assert repair(repair(text)) == repair(text)


def test_typography_and_spaces_are_unified():
    assert repair("\u201cIt\u2019s\u201d \u2014 a\u00a0\u00a0test\t\u3000here\r\nnext") == "\"It's\" - a test here\n\nnext"


def test_mojibake_is_repaired_in_the_lines_that_show_it_and_clean_lines_are_kept():
    text = "The fee rose to Â£5m, said the cafÃ© owner.\nA clean line stays as it is.\nHe said â€œnoâ€\x9d."
    assert repair(text) == "The fee rose to £5m, said the café owner.\nA clean line stays as it is.\nHe said \"no\"."
