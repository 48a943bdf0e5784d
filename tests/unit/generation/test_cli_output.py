"""`mde ask`'s closing lines: a refusal says why, and its pages are the nearest, not sources."""

from __future__ import annotations

from services.generation import cli


def test_a_refused_answer_prints_its_reason_and_the_nearest_pages() -> None:
    done = {"refused": True, "mode": "rag", "weights": {"kind": "base"}, "timings": {},
            "refusal_reason": "the question asks for a price and none of the closest passages "
                              "states one [x]"}
    pages = [{"n": 1, "title": "Plans", "url": "https://learn.example/plans"}]
    with cli.console.capture() as captured:
        cli._print_done(done, pages)
    out = captured.get()
    assert "Refused: the question asks for a price" in out and "states one [x]" in out
    assert "Nearest pages" in out and "[1] Plans" in out


def test_an_answer_prints_no_refusal_line() -> None:
    done = {"refused": False, "mode": "rag", "weights": {"kind": "base"}, "timings": {}}
    with cli.console.capture() as captured:
        cli._print_done(done, [{"n": 1, "title": "A", "url": "https://learn.example/a"}])
    assert "Refused" not in captured.get() and "Sources" in captured.get()
