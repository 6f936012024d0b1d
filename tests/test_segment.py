"""Blocks: paragraphs as the page laid them out, one per line or, in hard-wrapped wire copy,
a run of lines up to a blank or indented one."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.segment import Span, split_blocks

WIRE = (
    "NORDBANKEN POSTPONES PLANNED AUCTION OF FERMENTA SHARES\n"
    "Sweden's Nordbanken banking group said it would postpone\n"
    "indefinitely its planned auction on Monday of 4.2 mln B free\n"
    "shares deposited as loan collateral by Fermenta's founder and\n"
    "former chief executive Refaat el-Sayed.\n"
    " A statement cited Fermenta's financial position as the main\n"
    "reason for delay. The company's 1986 deficit had earlier been\n"
    "estimated at 136 mln crowns, but that was revised at an\n"
    "extraordinary shareholders meeting.\n"
    " Reuter\n"
)


def _reference(text: str) -> list[tuple[int, int]]:
    """The rule spelled out one character test at a time."""
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    nonblank = [end - start for start, end in lines if text[start:end].strip()]
    wrapped = False
    if len(nonblank) >= 4 and max(nonblank) <= 110:
        width = max(nonblank)
        full = [(s, e) for s, e in lines if e - s >= 0.7 * width]
        if len(full) >= 0.5 * len(nonblank):
            open_ended = sum(1 for s, e in full if not re.search(r"[.!?][\"')\]]*$", text[s:e].rstrip()))
            wrapped = open_ended >= 0.6 * len(full)
    blocks, current = [], None
    for start, end in lines:
        if not text[start:end].strip():
            if current:
                blocks.append(current)
            current = None
        elif not wrapped or current is None or text[start].isspace():
            if current:
                blocks.append(current)
            current = [start, end]
        else:
            current[1] = end
    if current:
        blocks.append(current)
    out = []
    for start, end in blocks:
        while text[start].isspace():
            start += 1
        while text[end - 1].isspace():
            end -= 1
        out.append((start, end))
    return out


def test_wire_copy_is_cut_at_indented_lines():
    blocks = split_blocks(WIRE)
    assert [WIRE[b.start:b.end].split("\n")[0] for b in blocks] == [
        "NORDBANKEN POSTPONES PLANNED AUCTION OF FERMENTA SHARES",
        "A statement cited Fermenta's financial position as the main",
        "Reuter",
    ]
    assert WIRE[blocks[1].start:blocks[1].end].endswith("extraordinary shareholders meeting.")
    assert all(isinstance(b, Span) for b in blocks)


def test_a_blank_line_in_wire_copy_does_not_cut_a_sentence_in_two():
    text = WIRE.replace("postpone\nindefinitely", "postpone\n\nindefinitely")
    assert len(split_blocks(text)) == len(split_blocks(WIRE))


def test_text_that_is_not_wrapped_has_a_block_per_line():
    text = "Headline\n\n  First paragraph, a sentence.  \n\u00a0\nSecond paragraph.\n"
    assert [text[b.start:b.end] for b in split_blocks(text)] == [
        "Headline", "First paragraph, a sentence.", "Second paragraph."]


_lines = st.lists(
    st.one_of(st.text(alphabet=" a.b!\t\u00a0\u2003\"')", max_size=12),
              st.text(alphabet="abc ", min_size=30, max_size=60)),
    max_size=12)


@settings(max_examples=400, deadline=None)
@given(lines=_lines)
def test_blocks_follow_the_rule(lines):
    text = "\n".join(lines)
    assert [tuple(b) for b in split_blocks(text)] == _reference(text)


@settings(max_examples=200, deadline=None)
@given(lines=_lines, head=st.text(alphabet="ab \n", max_size=8))
def test_blocks_of_a_text_after_a_start_are_the_blocks_of_that_part(lines, head):
    # How analysis splits the body after a title it put first: in place, without a copy.
    text = "\n".join(lines)
    shifted = [(start + len(head), end + len(head)) for start, end in _reference(text)]
    assert [tuple(b) for b in split_blocks(head + text, len(head))] == shifted
