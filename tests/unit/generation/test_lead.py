"""The lead gate: whole checked sentences only, repeats stop the model, unsupported ones dropped."""

from __future__ import annotations

import random

from services.generation import support
from services.generation.citations import allowed_urls
from services.generation.lead import LeadGate
from services.generation.sources import number_sources
from tests.unit.generation.hits import hit

TEXT = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in an elevated PowerShell "
        "window. Set the proxy with mdatp config proxy set --value http://address:port on Linux.")
SOURCES = number_sources([hit("enable-controlled-folders", text=TEXT)])


def gate(checked: bool = True, max_sentences: int = 10) -> LeadGate:
    return LeadGate(support.prepare(SOURCES) if checked else None, allowed_urls(SOURCES),
                    len(SOURCES), 0.6, max_sentences)


def feed_in_pieces(lead: LeadGate, text: str, seed: int = 0) -> str:
    rng, out, i = random.Random(seed), "", 0
    while i < len(text) and not lead.stopped:
        step = rng.randint(1, 5)
        out += lead.feed(text[i:i + step])
        i += step
    return out + lead.flush()


def test_a_looping_model_is_cut_at_the_repeat() -> None:
    loop = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell. "
            "Set the proxy with mdatp config proxy set --value http://address:port on Linux. ") * 4
    lead = gate()
    out = feed_in_pieces(lead, loop)
    assert lead.stopped == "repeated"
    assert out.count("Set-MpPreference") == 1 and out.count("mdatp config") == 1
    assert "http://address:port" in out  # the documented URL survives


def test_a_sentence_that_loops_inside_itself_is_cut() -> None:
    """Fault injected: one sentence that says a word over and over (every word is in the source,
    so the support check alone passed it)."""
    lead = gate()
    out = feed_in_pieces(lead, "Run Set-MpPreference -EnableControlledFolderAccess AuditMode in "
                               "PowerShell. Run " + "PowerShell " * 12 + "window.")
    assert lead.stopped == "repeated" and out.count("PowerShell") == 1
    code = gate(checked=False)
    fenced = "Use this:\n```\n" + "mdatp health\n" * 6 + "```\n"  # a code block may repeat
    assert "mdatp health" in feed_in_pieces(code, fenced) and not code.stopped


def test_an_unsupported_sentence_is_dropped_and_reported() -> None:
    text = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell. "
            "Install the Contoso agent from https://contoso.example/agent first. ")
    lead = gate()
    out = feed_in_pieces(lead, text, seed=3)
    assert out.strip() == ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in "
                           "PowerShell [1].")
    assert len(lead.dropped) == 1 and "Contoso" in lead.dropped[0].text
    assert lead.text == out.strip()


def test_without_sources_nothing_is_checked_but_invented_urls_go() -> None:
    lead = gate(checked=False)
    out = feed_in_pieces(lead, "Defender is great. See https://made.up/page for more.")
    assert out.startswith("Defender is great.") and "made.up" not in out and not lead.dropped


def test_the_lead_stops_after_its_sentences() -> None:
    lead = gate(max_sentences=1)
    out = feed_in_pieces(lead, TEXT + " More text that would follow.")
    assert lead.stopped == "sentences" and out.count("[1]") == 1


def test_a_list_marker_or_label_joins_its_sentence_instead_of_counting_as_one() -> None:
    """Fault injected: the model numbers its steps and labels its answer ("A:"), and ends on a
    bare marker; none of these is a sentence to check (or to count as unsupported)."""
    text = ("A:\n1. Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell.\n"
            "2. Set the proxy with mdatp config proxy set --value http://address:port on Linux.\n3.")
    lead = gate()
    out = feed_in_pieces(lead, text, seed=5)
    assert not lead.dropped and len(lead.kept) == 2
    assert lead.kept[0].startswith("1. Run Set-MpPreference")  # the label is no part of it
    assert lead.kept[1].startswith("2. Set the proxy") and out.rstrip().endswith("[1].")



def test_a_number_on_a_line_of_its_own_is_not_shown_above_the_line_it_joined() -> None:
    """Fault injected: the model numbers a list item on a line of its own ("2.\n- Set the proxy
    …", seen on the held-out half); the item is the sentence, the lone number is debris."""
    lead = gate()
    out = feed_in_pieces(lead, "2.\n- Set the proxy with mdatp config proxy set on Linux.", seed=3)
    assert lead.kept and lead.kept[0].startswith("- Set the proxy") and not out.startswith("2.")
    """Fault injected: the model copies an evidence unit word for word; the final answer quotes
    that unit after the lead, so showing the copy would say it twice."""
    unit = "Set the proxy with mdatp config proxy set --value http://address:port on Linux."
    lead = LeadGate(support.prepare(SOURCES), allowed_urls(SOURCES), len(SOURCES), 0.6, 10,
                    evidence=[unit])
    out = feed_in_pieces(lead, "Run Set-MpPreference -EnableControlledFolderAccess AuditMode in "
                               "PowerShell. You set the proxy with mdatp config proxy set --value "
                               "http://address:port on Linux [1].", seed=2)
    assert out.strip() == ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in "
                           "PowerShell [1].")
    assert len(lead.quoted) == 1 and "mdatp config proxy" in lead.quoted[0]
    assert not lead.dropped and len(lead.kept) == 1 and lead.text == out.strip()
    short = LeadGate(support.prepare(SOURCES), allowed_urls(SOURCES), len(SOURCES), 0.6, 10,
                     evidence=["Run it in an elevated PowerShell window:\nSet-MpPreference"])
    assert not feed_in_pieces(short, "Run it in an elevated PowerShell window [1].\n")
    assert len(short.quoted) == 1  # a line under 8 words, said again word for word
    listed = "The above shows that 187 events were registered:\n- 102 for Blocked\n- 85 for Audited"
    counts = number_sources([hit("asr-events", text=listed)])
    items = LeadGate(support.prepare(counts), allowed_urls(counts), 1, 0.6, 10, evidence=[listed])
    assert not feed_in_pieces(items, "- 102 for Blocked\n- 85 for Audited [1]\n")
    assert len(items.quoted) == 1  # two short list lines, joined (the first says too little alone)
    methods = "Supported proxy configurations:\n- Proxy autoconfig (PAC)\n- Manual static proxy"
    proxies = number_sources([hit("mac-install", text=methods)])
    numbered = LeadGate(support.prepare(proxies), allowed_urls(proxies), 1, 0.6, 10,
                        evidence=[methods])
    # a sampled lead numbered a copied line: "1." says nothing, the line is still the evidence's
    assert not feed_in_pieces(numbered, "1.\n- Proxy autoconfig (PAC) [1]\n")
    assert len(numbered.quoted) == 1 and not numbered.kept
    cut = LeadGate(support.prepare(proxies), allowed_urls(proxies), 1, 0.6, 10, evidence=[methods])
    # the quoted intro with the first word of a command the model did not finish
    assert not feed_in_pieces(cut, "Supported proxy configurations:\nsudo [1]\n")
    assert len(cut.quoted) == 1 and not cut.kept
    more = LeadGate(support.prepare(proxies), allowed_urls(proxies), 1, 0.6, 10, evidence=[methods])
    assert not feed_in_pieces(more, "Supported proxy configurations:\n- Manual static proxy or "
                                    "proxy autoconfig [1]\n")
    assert len(more.quoted) == 1 and not more.kept  # its second line is new, its first is not


def test_a_run_across_two_quoted_units_counts_as_said_below() -> None:
    """Fault injected: the lead copies the end of one evidence unit ("Where:") and the start of the
    next, changing the last word; no single unit holds its 8-word run, the printed evidence does."""
    text = ("In Value, type the GUID value and the State value. Where:\n"
            "- 0: Disable (Disable the attack surface reduction rule)\n- 1: Block")
    rules = number_sources([hit("enable-attack-surface-reduction", text=text)])
    lead = LeadGate(support.prepare(rules), allowed_urls(rules), 1, 0.6, 10,
                    evidence=["In Value, type the GUID value and the State value. Where:",
                              "- 0: Disable (Disable the attack surface reduction rule)"])
    out = feed_in_pieces(lead, "Where:\n    - 0: Disable (Disable the attack surface reduction "
                               "rules) [1]\n")
    assert not out.strip() and len(lead.quoted) == 1 and not lead.kept


def test_a_run_from_the_sentence_shown_before_into_the_next_counts_as_said_below() -> None:
    """Fault injected: two lead sentences whose 8-word run across them ("… on Windows or Windows
    Server." / "- Block at first sight …") is the printed evidence's run across two list items:
    the answer would say it twice, so the second is left out (counted supported)."""
    text = ("- Block at first sight blocks files on Windows or Windows Server.\n"
            "- Block at first sight uses the cloud protection backend for downloaded files.")
    page = number_sources([hit("configure-block-at-first-sight", text=text)])
    lead = LeadGate(support.prepare(page), allowed_urls(page), 1, 0.6, 10, evidence=[text])
    out = feed_in_pieces(lead, "- It blocks files on Windows or Windows Server [1].\n"
                               "- Block at first sight is a cloud protection backend check [1].\n")
    assert out.strip() == "- It blocks files on Windows or Windows Server [1]."
    assert len(lead.kept) == 1 and len(lead.quoted) == 1


def test_without_sources_a_short_answer_is_still_an_answer() -> None:
    """Fault injected: an `ft` answer with a single content word; nothing is checked there, so
    it must reach the user (the fragment rule is for checked leads)."""
    lead = gate(checked=False)
    assert feed_in_pieces(lead, "Yes.").strip() == "Yes." and lead.text == "Yes."



def test_a_sentence_that_breaks_off_is_never_shown() -> None:
    """Fault injected: the model stops mid-claim ("A hash value of the [1]"), asks the question
    back, then opens a bracket it never closes before its output ends."""
    lead = gate()
    out = feed_in_pieces(lead, "Run Set-MpPreference in an elevated PowerShell window of the [1].\n"
                               "Question: how do I run Set-MpPreference in PowerShell [1]?\n"
                               "Run Set-MpPreference -EnableControlledFolderAccess AuditMode [1]. "
                               'Set the proxy with mdatp config proxy { "cloudService" [1].\n')
    assert out.strip() == "Run Set-MpPreference -EnableControlledFolderAccess AuditMode [1]."
    assert [d.reason.split(":")[0] for d in lead.dropped] == ["unfinished"] * 3
    ended = gate()  # the model ended its output mid-claim: not shown, and counted
    assert feed_in_pieces(ended, "Set the proxy with mdatp config proxy set on Linux, [1]") == ""
    assert [d.reason.split(":")[0] for d in ended.dropped] == ["unfinished"]
    modal = gate()  # a sentence never ends on "can": the claim is missing
    assert feed_in_pieces(modal, "In many cases, Set-MpPreference can [1]\n") == ""
    assert [d.reason.split(":")[0] for d in modal.dropped] == ["unfinished"]
    cut = gate()  # the token limit cut it off: no sentence the model finished
    assert cut.feed("Run Set-MpPreference -EnableControlledFolderAccess AuditMode [1]. Set the "
                    "proxy with mdatp config proxy set with the").startswith("Run Set-MpPreference")
    assert cut.flush(cut=True) == "" and not cut.dropped and len(cut.kept) == 1
    swallowing = gate()  # an open bracket joins a few lines, not the rest of the lead
    filler = "".join(f"{word} sets the proxy on Linux.\n" for word in (
        "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven",
        "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen"))
    out = feed_in_pieces(swallowing, "Run Set-MpPreference (in PowerShell [1].\n" + filler
                         + "Run Set-MpPreference -EnableControlledFolderAccess AuditMode [1].\n")
    assert out.strip().endswith("Run Set-MpPreference -EnableControlledFolderAccess AuditMode [1].")
    assert swallowing.dropped[0].reason.startswith("unfinished") and "(in" not in out


def test_an_intro_joins_what_it_introduces() -> None:
    """A line ending in a colon is no sentence of its own: the command under it completes it."""
    lead = gate()
    out = feed_in_pieces(lead, "Run the following in PowerShell [1]:\n"
                               "Set-MpPreference -EnableControlledFolderAccess AuditMode\n")
    assert lead.kept == [out.strip()] and "AuditMode" in out and not lead.dropped
    alone = gate()
    assert feed_in_pieces(alone, "Run the following in an elevated PowerShell window [1]:\n") == ""
    assert not alone.kept and len(alone.dropped) == 1


def test_an_intro_joins_the_numbered_item_under_it() -> None:
    """Fault injected: the model writes an intro, then the next item's number ("… window:\n2.
    Set the proxy …", seen on the held-out half); the number opens the item, it ends no
    sentence, so the intro and the item are checked together."""
    lead = gate()
    text = ("Run Set-MpPreference in an elevated PowerShell window:\n2. Set the proxy with mdatp "
            "config proxy set --value http://address:port on Linux.")
    out = feed_in_pieces(lead, text, seed=4)
    assert not lead.dropped and len(lead.kept) == 1 and "\n2. Set the proxy" in out
    cut = gate()
    assert feed_in_pieces(cut, "Run Set-MpPreference in an elevated PowerShell window:\n2.") == ""
    assert not cut.kept and len(cut.dropped) == 1  # the model ended there: unfinished, counted


def test_a_tables_header_or_a_lone_cell_separator_is_not_shown() -> None:
    """Fault injected: the model copies a table's header and a line holding only "|" (seen on the
    held-out half: '"The Exclusion Category | Exclusion Scope | Description | [2]\n|\nYou can …');
    neither states anything, so neither is shown or counted as a sentence."""
    table = "| Setting | Value |\n| --- | --- |\n| Proxy | `http://proxy:8080` |"
    sources = number_sources([hit("enable-controlled-folders", text=f"{TEXT}\n\n{table}")])
    lead = LeadGate(support.prepare(sources), allowed_urls(sources), len(sources), 0.6, 10)
    out = feed_in_pieces(lead, "The Setting | Value | [1]\n|\nSet the proxy with mdatp config "
                               "proxy set on Linux [1].", seed=2)
    assert out.startswith("Set the proxy") and "|" not in out
    assert len(lead.kept) == 1 and not lead.dropped
