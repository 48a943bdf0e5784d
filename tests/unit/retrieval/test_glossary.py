"""Acronyms read from the documentation's own definitions and spelled out in queries."""

from __future__ import annotations

from services.retrieval.glossary import Glossary, mine

DOCS = [
    "Configure attack surface reduction (ASR) rules with Group Policy.",
    "Use a group policy object (GPO) to deploy the settings; a GPO applies at the next refresh.",
    ("Enroll devices with mobile device management (MDM), or use mobile device management "
     "(MDM) through Intune. A second spelling: mobile-device management (MDM)."),
    "Load indicators of compromise (IoCs) into the tenant.",
    "The Microsoft Advanced Protection Service (MAPS) sends samples. The route maps to a port.",
    "Windows (Windows 11) and the default (see below) are not acronyms (X).",
]


def test_definitions_are_read_from_the_text() -> None:
    glossary = mine(DOCS)
    assert glossary.terms["ASR"] == "attack surface reduction"
    assert glossary.terms["GPO"] == "group policy object"
    assert glossary.terms["IOC"] == "indicators of compromise"  # "IoCs": the plural's capitals
    assert glossary.terms["MAPS"] == "microsoft advanced protection service"
    assert glossary.terms["MDM"] == "mobile device management"  # the commonest spelling wins
    # a parenthesis whose capitals are not the initials of the words before it defines nothing
    assert set(glossary.terms) == {"ASR", "GPO", "MDM", "IOC", "MAPS"}


def test_a_query_gets_the_long_forms_of_its_acronyms() -> None:
    glossary = mine(DOCS)
    text, found = glossary.expand("how do I exempt one app from a single ASR rule with a GPO?")
    assert found == ["attack surface reduction", "group policy object"]
    assert text == ("how do I exempt one app from a single ASR rule with a GPO? "
                    "(attack surface reduction; group policy object)")
    assert glossary.long_forms("is there a cap on custom IOCs per tenant") == \
        ["indicators of compromise"]  # a plural asks for the same


def test_lower_case_words_are_expanded_only_where_the_docs_never_write_them_so() -> None:
    glossary = mine(DOCS)
    assert glossary.long_forms("do asr rules work in passive mode") == ["attack surface reduction"]
    # "maps" is an English word in the docs ("The route maps to a port"): not MAPS here
    assert glossary.long_forms("which maps does the portal show") == []
    assert glossary.long_forms("is MAPS on") == ["microsoft advanced protection service"]


def test_a_query_that_spells_the_words_out_or_has_no_acronym_is_left_alone() -> None:
    glossary = mine(DOCS)
    query = "attack surface reduction (ASR) rules in audit mode"
    assert glossary.expand(query) == (query, [])
    assert glossary.expand("turn on tamper protection") == ("turn on tamper protection", [])
    assert Glossary().expand("ASR rules") == ("ASR rules", [])  # an empty index defines nothing
