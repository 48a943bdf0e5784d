"""Sources shown, URLs kept or removed, citations read, while streaming and at the end."""

from __future__ import annotations

import random

import pytest

from services.generation import citations
from shared.schemas import SourceRef
from tests.unit.generation.hits import BASE, hit

SOURCES = citations.number_sources([hit("enable-controlled-folders", 2.0, anchor="powershell"),
                                    hit("linux-exclusions", 1.5)])


def test_hits_far_below_the_best_are_not_listed() -> None:
    hits = [hit("a", 2.0), hit("b", 1.2), hit("c", 0.9), hit("d", 0.2)]
    assert [h.url[-1] for h in citations.select_hits(hits, 0.5)] == ["a", "b"]
    assert citations.select_hits([], 0.5) == []


def test_sources_are_numbered_with_url_and_anchor() -> None:
    assert [s.n for s in SOURCES] == [1, 2]
    assert SOURCES[0].url == BASE + "enable-controlled-folders#powershell"
    assert SOURCES[1].url == BASE + "linux-exclusions"


@pytest.mark.parametrize(("text", "expected"), [
    ("See https://evil.example.com/page for more.", "See  for more."),  # fault: invented URL
    ("Read [the guide](https://evil.example.com/x).", "Read the guide."),  # fault: invented link
    ("Docs (https://fake.io/a) say so.", "Docs  say so."),  # fault: invented URL in parentheses
    ("Visit www.bad.com, then retry.", "Visit , then retry."),  # fault: invented bare host
    ("As [1] and [7] say.", "As [1] and  say."),  # fault: citation past the last source
    (f"Open {BASE}linux-exclusions/ now.", f"Open {BASE}linux-exclusions/ now."),
    (f"Open [it]({BASE}enable-controlled-folders#group-policy).",
     f"Open [it]({BASE}enable-controlled-folders#group-policy)."),
])
def test_only_source_urls_survive(text: str, expected: str) -> None:
    assert citations.clean_text(text, citations.allowed_urls(SOURCES), len(SOURCES)) == expected


@pytest.mark.parametrize("seed", range(5))
def test_streamed_text_equals_cleaned_text(seed: int) -> None:
    text = ("Run Set-MpPreference [1]. See [the docs](https://evil.example.com/x) and "
            f"{BASE}linux-exclusions, or https://made.up/page. Also [9] and [2].")
    guard, rng, out, i = citations.UrlGuard(SOURCES), random.Random(seed), "", 0
    while i < len(text):
        step = rng.randint(1, 6)
        out += guard.feed(text[i:i + step])
        i += step
    out += guard.flush()
    assert out == citations.clean_text(text, citations.allowed_urls(SOURCES), len(SOURCES))
    assert "evil" not in out and "made.up" not in out and "[9]" not in out


def test_plain_words_are_not_held_back() -> None:
    guard = citations.UrlGuard(SOURCES)
    assert guard.feed("Enable the feature") == "Enable the feature"
    assert guard.feed(" with") == " "  # `with` ends like `h`(ttp): held until the word ends
    assert guard.feed(" care") + guard.flush() == "with care"


def test_cited_numbers_and_footer() -> None:
    assert citations.cited("Yes [2]. Also [1], again [2] and [5].", 2) == [2, 1]
    footer = citations.footer(SOURCES)
    assert footer.startswith("\n\nSources:\n[1] ") and f"{BASE}linux-exclusions" in footer
    assert citations.footer([]) == ""


def test_source_ref_round_trips() -> None:
    assert SourceRef.model_validate(SOURCES[0].model_dump()) == SOURCES[0]


def test_sentences_without_citations_get_the_best_matching_source() -> None:
    sources = citations.number_sources([
        hit("enable-controlled-folders", text="Run Set-MpPreference -EnableControlledFolderAccess "
                                              "AuditMode in an elevated PowerShell window."),
        hit("linux-exclusions", text="Use mdatp exclusion folder add --path to exclude a folder.")])
    text = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode from PowerShell. "
            "Version 10.5 is fine! Use mdatp exclusion folder add --path [2].\n"
            "```\nSet-MpPreference -EnableControlledFolderAccess AuditMode\n```\n"
            "- exclude a folder with mdatp exclusion add")
    attributor, out = citations.Attributor(sources, 0.5), ""
    for i in range(0, len(text), 3):
        out += attributor.feed(text[i:i + 3])
    out += attributor.flush()
    assert out.startswith("Run Set-MpPreference -EnableControlledFolderAccess AuditMode from "
                          "PowerShell [1]. Version 10.5 is fine! Use mdatp")
    assert "--path [2].\n```\nSet-MpPreference -EnableControlledFolderAccess AuditMode\n```" in out
    assert out.endswith("exclude a folder with mdatp exclusion add [2]")
