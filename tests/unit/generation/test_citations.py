"""URLs kept or removed, citations read, the final answer composed."""

from __future__ import annotations

import pytest

from services.generation import citations
from services.generation.sources import number_sources
from shared.schemas import EvidenceItem, SourceRef
from tests.unit.generation.hits import BASE, hit

PROXY = "Set it with:\n\n```bash\nmdatp config proxy set --value http://address:port\n```"
SOURCES = number_sources([hit("enable-controlled-folders", 2.0, anchor="powershell"),
                          hit("linux-static-proxy-configuration", 1.5, text=PROXY)])
ALLOWED = citations.allowed_urls(SOURCES)


@pytest.mark.parametrize(("text", "expected"), [
    ("See https://evil.example.com/page for more.", "See  for more."),  # fault: invented URL
    ("Read [the guide](https://evil.example.com/x).", "Read the guide."),  # fault: invented link
    ("Docs (https://fake.io/a) say so.", "Docs  say so."),  # fault: invented URL in parentheses
    ("Visit www.bad.com, then retry.", "Visit , then retry."),  # fault: invented bare host
    ("As [1] and [7] say.", "As [1] and  say."),  # fault: citation past the last source
    (f"Open {BASE}linux-static-proxy-configuration/ now.",
     f"Open {BASE}linux-static-proxy-configuration/ now."),
    # a URL that stands in a source's text is a documented fact: it stays (it was cut before)
    ("Run mdatp config proxy set --value http://address:port [2].",
     "Run mdatp config proxy set --value http://address:port [2]."),
])
def test_only_urls_the_sources_hold_survive(text: str, expected: str) -> None:
    assert citations.clean_text(text, ALLOWED, len(SOURCES)) == expected


def test_cited_numbers_and_footer() -> None:
    assert citations.cited("Yes [2]. Also [1], again [2] and [5].", 2) == [2, 1]
    footer = citations.footer(SOURCES)
    assert footer.startswith("\n\nSources:\n[1] ") and f"{BASE}linux-static-proxy" in footer
    assert citations.footer([]) == ""


def test_final_answer_is_lead_then_evidence_then_sources() -> None:
    evidence = [EvidenceItem(n=2, kind="sentence", text="Set it with:", url=BASE + "x"),
                EvidenceItem(n=2, kind="code", language="bash", url=BASE + "x",
                             text="mdatp config proxy set --value http://address:port"),
                EvidenceItem(n=1, kind="item", text="- Step one\n- Step two", url=BASE + "y")]
    text = citations.compose("Use the mdatp tool [2].", evidence, SOURCES)
    lead, rest = text.split("\n\n", 1)
    assert lead == "Use the mdatp tool [2]."
    assert rest.startswith(citations.EVIDENCE_MARK)
    assert "```bash\nmdatp config proxy set --value http://address:port\n```\n[2]" in text
    assert "> Set it with: [2]" in text and "> - Step one\n> - Step two [1]" in text
    assert text.index("```bash") < text.index("\n\nSources:\n[1] ")
    assert citations.compose("", [], SOURCES).startswith("Sources:\n[1] ")


def test_source_ref_round_trips() -> None:
    assert SourceRef.model_validate(SOURCES[0].model_dump()) == SOURCES[0]
