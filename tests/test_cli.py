"""`dedup cluster` and `dedup explain` as a user runs them."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dedup.cli import main
from tests.conftest import bond_notices, syndicated_corpus

SEEDS = Path(__file__).parent / "data" / "seeds"


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
def test_cluster_directory_writes_contract_fields_in_input_order(tmp_path, workers, capsys):
    out = tmp_path / "pred.jsonl"
    assert main(["cluster", str(SEEDS), "--out", str(out), "--workers", str(workers)]) == 0
    records = _read_jsonl(out)
    assert [r["id"] for r in records] == sorted(p.name for p in SEEDS.glob("*.txt"))
    by_id = {r["id"][:3]: r for r in records}
    assert by_id["004"]["cluster"] == by_id["000"]["cluster"] == by_id["000"]["id"]
    assert by_id["004"]["relation"] == "version"
    assert len({r["story"] for r in records}) == 1
    assert len({r["cluster"] for r in records}) == 4
    for r in records:
        assert {"id", "cluster", "story", "canonical", "relation", "similarity"} <= r.keys()
    assert "5 documents" in capsys.readouterr().err


def test_jsonl_with_html_and_published_at(tmp_path):
    texts = {p.name[:3]: p.read_text() for p in SEEDS.glob("*.txt")}
    page = "<html><head><title>NPR</title></head><body><nav>Home News</nav><article>" + "".join(
        f"<p>{para}</p>" for para in texts["004"].split("\n") if para.strip()) + "</article></body></html>"
    records = [
        {"id": "early", "text": texts["000"], "published_at": "2025-02-12T15:00:00Z"},
        {"id": "page", "html": page, "published_at": "2025-02-12T14:00:00Z"},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "pred.jsonl"
    assert main(["cluster", str(source), "--out", str(out), "--quiet"]) == 0
    pred = {r["id"]: r for r in _read_jsonl(out)}
    assert pred["early"]["cluster"] == pred["page"]["cluster"] == "page"  # published first
    assert pred["early"]["relation"] == "version"


def test_bad_inputs_are_named_skipped_and_fail_the_run(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "empty.txt").write_text("   \n")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 binary")
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (corpus / "big.txt").write_text("word " * 3000)
    (corpus / "bad.jsonl").write_text('{"id": "ok", "text": "A fine article about something else entirely."}\n{not json\n{"id": "x"}\n')
    out = tmp_path / "pred.jsonl"
    assert main(["cluster", str(corpus), "--out", str(out), "--quiet", "--max-text-bytes", "10000"]) == 1
    err = capsys.readouterr().err
    for name in ("empty.txt", "binary.txt", "latin1.txt", "big.txt", "bad.jsonl:2", "bad.jsonl:3"):
        assert name in err
    ids = [r["id"] for r in _read_jsonl(out)]
    assert "ok" in ids and len(ids) == 6  # the five seeds and the good record


def test_missing_input_fails_with_message(tmp_path, capsys):
    assert main(["cluster", str(tmp_path / "nope"), "--out", str(tmp_path / "o.jsonl"), "--quiet"]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_invalid_threshold_is_refused(tmp_path, capsys):
    assert main(["cluster", str(SEEDS), "--out", str(tmp_path / "o.jsonl"), "--rewrite", "1.5"]) == 2
    assert "rewrite must be between 0 and 1" in capsys.readouterr().err


def test_explain_prints_relation_scores_and_passages(capsys):
    a, b = sorted(SEEDS.glob("00[04]*.txt"))
    assert main(["explain", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "relation:     version" in out
    assert "NATO membership for Ukraine is a realistic outcome" in out
    share = float(out.split("specific:")[1].split()[0])  # why it may be a copy at all
    assert 0.4 <= share <= 1.0 and "(a copy needs 0.40)" in out


def test_explain_looks_ids_up_in_inputs_given_before_or_after_them(tmp_path, capsys):
    records = [{"id": p.stem, "text": p.read_text()} for p in sorted(SEEDS.glob("00[04]*.txt"))]
    corpus = tmp_path / "seeds.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    a, b = records[0]["id"], records[1]["id"]
    for argv in (["explain", "--in", str(corpus), a, b], ["explain", a, b, "--in", str(corpus)]):
        assert main(argv) == 0
        assert "relation:     version" in capsys.readouterr().out


def test_explain_in_a_collection_applies_what_the_collection_teaches(tmp_path, capsys):
    """Two notices filled into one template look like versions on their own; in the
    collection, where the template is everywhere, they are not copies, as `dedup cluster`
    finds, and `explain --in` says so."""
    notices = bond_notices(60)  # the default commonness needs 50 documents
    corpus = tmp_path / "notices.jsonl"
    corpus.write_text("".join(json.dumps({"id": n.id, "title": n.title, "text": n.text}) + "\n" for n in notices))
    alone = []
    for notice in notices[:2]:
        path = tmp_path / f"{notice.id}.txt"
        path.write_text(f"{notice.title}\n\n{notice.text}")
        alone.append(str(path))
    assert main(["explain", *alone]) == 0
    assert "relation:     version" in capsys.readouterr().out
    assert main(["explain", notices[0].id, notices[1].id, "--in", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("in the context of 60 documents of")
    relation = out.split("relation:")[1].split()[0]
    assert relation in ("rewrite", "unrelated")
    predictions = tmp_path / "pred.jsonl"
    assert main(["cluster", str(corpus), "--out", str(predictions), "--quiet", "--workers", "1"]) == 0
    first = json.loads(predictions.read_text().splitlines()[0])
    assert first["cluster_size"] == 1


def test_a_run_that_spills_its_documents_answers_the_same_and_leaves_no_file(tmp_path, seed_articles, topic_articles):
    articles, _ = syndicated_corpus(list(seed_articles.values()) + list(topic_articles.values()))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": a.id, "text": a.text}) + "\n" for a in articles))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    in_ram, spilled = tmp_path / "ram.jsonl", tmp_path / "spilled.jsonl"
    assert main(["cluster", str(corpus), "--out", str(in_ram), "--quiet", "--workers", "1"]) == 0
    assert main(["cluster", str(corpus), "--out", str(spilled), "--quiet", "--workers", "1",
                 "--spill-after", "5", "--tmp-dir", str(scratch)]) == 0
    assert spilled.read_text() == in_ram.read_text()
    assert list(scratch.iterdir()) == []


def test_batch_spilling_moves_documents_to_an_unlinked_scratch_file(tmp_path, seed_articles):
    from dedup.batch import cluster

    run = cluster(list(seed_articles.values()), workers=1, spill_after=2, spill_dir=tmp_path)
    descriptors = run.engine.file_descriptors()
    assert len(descriptors) == 2  # the documents and their screening prefixes, read from files ...
    assert list(tmp_path.iterdir()) == []  # ... that no crash can leave behind
    assert run.engine.document(run.ids[0]).id == run.ids[0]
    run.close()
    for fd in descriptors:
        with pytest.raises(OSError):
            os.fstat(fd)  # closed, so the system has freed the files
    assert cluster(list(seed_articles.values()), workers=1, spill_after=None).engine.file_descriptors() == []


def test_an_unusable_tmp_dir_is_refused_before_the_run(tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["cluster", str(SEEDS), "--out", str(out), "--tmp-dir", str(tmp_path / "nope")]) == 2
    assert "is not a writable directory" in capsys.readouterr().err
    assert not out.exists()


def _seed_records() -> list[str]:
    return [json.dumps({"id": p.name[:3], "text": p.read_text()}) for p in sorted(SEEDS.glob("*.txt"))]


@pytest.mark.parametrize("suffix, opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_jsonl_dumps_are_read_like_plain_ones(tmp_path, suffix, opener):
    plain = tmp_path / "seeds.jsonl"
    plain.write_text("\n".join(_seed_records()) + "\n")
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    with opener(dumps / f"seeds.jsonl{suffix}", "wb") as handle:
        handle.write(plain.read_bytes())
    (dumps / f"notes.txt{suffix}").write_bytes(b"not walked: only JSONL is read compressed")
    assert main(["cluster", str(plain), "--out", str(tmp_path / "plain.out"), "--quiet"]) == 0
    assert main(["cluster", str(dumps), "--out", str(tmp_path / "dumps.out"), "--quiet"]) == 0
    expected = (tmp_path / "plain.out").read_text()
    assert len(expected.splitlines()) == 5
    assert (tmp_path / "dumps.out").read_text() == expected


def test_a_cut_short_dump_keeps_the_records_before_the_break_and_fails_the_run(tmp_path, capsys):
    records = _seed_records()
    whole = gzip.compress(("\n".join(records) + "\n").encode())
    dump = tmp_path / "cut.jsonl.gz"
    dump.write_bytes(whole[:len(whole) * 3 // 4])
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"plain text"))
    out = tmp_path / "pred.jsonl"
    assert main(["cluster", str(dump), str(tmp_path / "notes.txt.gz"), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cut.jsonl.gz:" in err and "the records before it were kept" in err
    assert "read only as JSONL" in err
    ids = [r["id"] for r in _read_jsonl(out)]
    assert 0 < len(ids) < len(records) and ids == ["000", "001", "002", "003", "004"][:len(ids)]


def test_standard_input_is_read_as_jsonl(tmp_path, monkeypatch):
    plain = tmp_path / "seeds.jsonl"
    plain.write_text("\n".join(_seed_records()) + "\n")
    assert main(["cluster", str(plain), "--out", str(tmp_path / "plain.out"), "--quiet"]) == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(plain.read_bytes())))
    assert main(["cluster", "-", "--out", str(tmp_path / "stdin.out"), "--quiet"]) == 0
    assert (tmp_path / "stdin.out").read_text() == (tmp_path / "plain.out").read_text()


def test_a_reader_that_leaves_early_ends_the_run_quietly(tmp_path):
    """`dedup cluster - --out - | head -1`: no traceback when the pipe closes."""
    lines = "".join(json.dumps({"id": f"n{i}", "text": f"Notice {i}: the council met on day {i} and chose plan {i * 7}."}) + "\n"
                    for i in range(600))
    command = [sys.executable, "-c", "import sys; from dedup.cli import console; sys.exit(console())",
               "cluster", "-", "--out", "-", "--quiet", "--workers", "1"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=Path(__file__).parents[1])
    proc.stdin.write(lines.encode())
    proc.stdin.close()
    assert json.loads(proc.stdout.readline())["id"] == "n0"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err


def test_the_progress_bar_counts_plain_and_compressed_records_and_files(tmp_path):
    from dedup.inputs import count_documents

    records = _seed_records()
    (tmp_path / "a.jsonl").write_text("\n".join(records) + "\n\n")  # a blank line is no record
    with gzip.open(tmp_path / "b.jsonl.gz", "wb") as handle:
        handle.write(("\n".join(records[:3]) + "\n").encode())
    (tmp_path / "c.txt").write_text("An article of its own.")
    (tmp_path / "d.csv").write_text("not read")
    assert count_documents([str(tmp_path)]) == 5 + 3 + 1
    assert count_documents([str(tmp_path / "b.jsonl.gz"), "-"]) is None  # standard input: unknown
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"{}\n")[:10])  # cut short
    assert count_documents([str(tmp_path)]) is None
