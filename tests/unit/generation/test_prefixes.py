"""The saved prompt prefixes both engines keep: least recently used first out."""

from __future__ import annotations

from services.generation.batching import Prefixes


def test_the_least_recently_used_prefix_goes_first() -> None:
    kept = Prefixes(entries=2)
    kept.keep((1, 2), "system")
    kept.keep((3, 4), "question a")
    assert kept.use((1, 2)) == "system"  # the system prompt is read again: it stays
    kept.keep((5, 6), "question b")
    assert list(kept) == [(1, 2), (5, 6)]
