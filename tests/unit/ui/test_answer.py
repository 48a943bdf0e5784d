"""Reading the generation service's events defensively, and the captions made from them."""

from __future__ import annotations

from ui.answer import ago, duration, source_from, sources_from, timings_caption, weights_label


def test_sources_are_numbered_and_linked_to_their_anchor() -> None:
    data = {"sources": [
        {"n": 1, "title": "Onboard Linux", "heading_path": ["Onboard Linux", "Deploy", "Script"],
         "url": "https://learn.test/linux", "anchor": "script", "score": 0.8, "text": "Run it."},
        {"n": 2, "title": "Other", "heading_path": [], "url": "https://learn.test/o#top"},
    ]}
    first, second = sources_from(data)
    assert (first.number, first.link, first.heading, first.score) == (
        1, "https://learn.test/linux#script", "Deploy › Script", 0.8)
    assert second.link == "https://learn.test/o#top"  # the URL's own fragment wins
    assert second.text == "" and second.score is None


def test_missing_fields_never_raise() -> None:
    source = source_from({}, 3)
    assert (source.number, source.title, source.link, source.heading) == (
        4, "Untitled page", None, "")
    assert source_from({"heading_path": "Page > Section", "number": "x"}, 0).heading == "Section"
    assert sources_from({"sources": "nonsense"}) == []
    assert sources_from({"value": [{"title": "T"}, 5]})[0].title == "T"
    assert sources_from({}) == []


def test_timings_caption() -> None:
    done = {"mode": "rag", "usage": {"completion_tokens": 37},
            "timings": {"retrieval_ms": 41.2, "time_to_first_token_ms": 912,
                        "tokens_per_sec": 14.24},
            "weights": {"kind": "adapter", "version": "20250101-1"}}
    assert timings_caption(done) == ("retrieval 41 ms · first token 912 ms · 14.2 tok/s · "
                                     "37 tokens · rag · adapter 20250101-1")
    assert timings_caption({"mode": "ft", "timings": {"retrieval_ms": 0}}) == "ft"
    assert timings_caption({"timings": None, "usage": None, "weights": "x"}) == ""


def test_weights_label() -> None:
    assert weights_label({"kind": "base"}) == "base weights"
    assert weights_label({"kind": "merged", "version": "v3"}) == "merged v3"
    assert weights_label(None) == ""


def test_duration_and_ago() -> None:
    assert [duration(s) for s in (0.25, 4.21, 185, 7800, None)] == [
        "250 ms", "4.2 s", "3 min 5 s", "2 h 10 min", "—"]
    now = 1_000_000.0
    assert [ago(now - s, now) for s in (5, 300, 7200, 3 * 86400)] == [
        "just now", "5 min ago", "2 h ago", "3 days ago"]
    assert ago(None) == "never"
    assert ago(now + 90, now) == "in 1 min 30 s"
