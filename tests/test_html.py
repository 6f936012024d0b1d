"""Main text and title of HTML pages, and where a batch run extracts them."""
from __future__ import annotations

from pathlib import Path

import pytest

from dedup.batch import cluster
from dedup.html import extract_text
from dedup.inputs import Page, Problem, read_inputs

SEEDS = Path(__file__).parent / "data" / "seeds"
BODY = "<article>" + "<p>The council voted on the budget for the coming year after a long debate.</p>" * 8 + "</article>"


def _page(head: str, body: str = BODY) -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


@pytest.mark.parametrize("head, body, title", [
    ('<meta property="og:title" content="  Council  passes budget "><title>Budget | Site</title>',
     "<h1>Other</h1>" + BODY, "Council passes budget"),
    ("<title>Budget | Site</title>", "<h1>Council passes budget</h1>" + BODY, "Council passes budget"),
    ("<title>Budget | Site</title>", "<h1>One</h1><h1>Two</h1>" + BODY, "Budget | Site"),
    ("", "<h1></h1><h1>Second heading</h1>" + BODY, "Second heading"),
])
def test_the_title_is_the_declared_headline_else_the_only_h1_else_the_title_tag(head, body, title):
    found, text = extract_text(_page(head, body))
    assert found == title
    assert text.startswith("The council voted on the budget")


def test_pages_without_main_text_or_markup_give_nothing():
    assert extract_text("") == ("", "")
    assert extract_text(_page("<title>T</title>", "<script>run()</script>")) == ("T", "")
    xml_declared = '<?xml version="1.0" encoding="utf-8"?>' + _page("<title>T</title>")
    assert extract_text(xml_declared)[1].startswith("The council voted")


def test_a_batch_run_extracts_pages_in_its_workers_with_the_same_result(tmp_path):
    for path in sorted(SEEDS.glob("*.txt")):
        paragraphs = "".join(f"<p>{line}</p>" for line in path.read_text().splitlines() if line.strip())
        (tmp_path / f"{path.stem}.html").write_text(_page("<title>News</title>", f"<nav>Home | World</nav><article>{paragraphs}</article>"))
    (tmp_path / "empty.html").write_text(_page("<title>Nothing</title>", "<script>run()</script>"))
    items = list(read_inputs([str(tmp_path)], 1 << 20, pages=True))
    assert all(isinstance(item, Page) for item in items)  # read, not yet extracted
    runs = [cluster(read_inputs([str(tmp_path)], 1 << 20, pages=True), workers=workers) for workers in (1, 2)]
    in_process = cluster(read_inputs([str(tmp_path)], 1 << 20), workers=1)  # extracted by the reader
    for run in [*runs, in_process]:
        assert run.problems == [Problem(str(tmp_path / "empty.html"), "no main text found in the HTML")]
        assert len(run.ids) == 5
    answers = [[(s.id, s.cluster, s.story) for s in run.engine.summaries(run.ids)] for run in [*runs, in_process]]
    assert answers[0] == answers[1] == answers[2]
    by_id = {i[:3]: cluster_id for i, cluster_id, _ in answers[0]}
    assert by_id["000"] == by_id["004"] != by_id["001"]
    for run in [*runs, in_process]:
        run.close()


def test_a_page_not_in_utf8_is_read_in_the_encoding_it_declares(tmp_path):
    sentence = "Le café coûte 3 € à Paris, et l’addition arrive vite après le déjeuner. "
    page = _page('<meta charset="windows-1252"><title>Cafés de Paris</title>', f"<article><p>{sentence * 8}</p></article>")
    (tmp_path / "cafe.html").write_bytes(page.encode("cp1252"))
    (tmp_path / "cafe.txt").write_bytes((sentence * 8).encode("cp1252"))  # plain text has no declaration
    items = list(read_inputs([str(tmp_path)], 1 << 20))
    article, problem = items
    assert article.title == "Cafés de Paris"
    assert article.text.startswith(sentence.strip())
    assert isinstance(problem, Problem) and "is not UTF-8" in problem.reason
