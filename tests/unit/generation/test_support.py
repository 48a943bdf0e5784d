"""The support check: supported sentences pass; other pages' facts, altered values and negations
do not; [n] goes to the source that supports the sentence best."""

from __future__ import annotations

import pytest

from services.generation import support
from services.generation.sources import number_sources
from tests.unit.generation.hits import hit

CFA = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in an elevated PowerShell "
       "window to turn on audit mode. Controlled folder access is not supported on Windows Server "
       "2012.")
LINUX = "Use mdatp exclusion folder add --path /var/backup to exclude a folder on Linux."
SOURCES = support.prepare(number_sources([hit("enable-controlled-folders", text=CFA),
                                          hit("linux-exclusions", text=LINUX)]))


@pytest.mark.parametrize(("sentence", "supported", "source"), [
    ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell.", True, 1),
    ("Use mdatp exclusion folder add --path to exclude a folder on Linux [1].", True, 2),
    # fault: an altered value (the command is not in any source)
    ("Run Set-MpPreference -EnableControlledFolderAccess Enabled2 in PowerShell.", False, None),
    # fault: a negated fact
    ("Controlled folder access is supported on Windows Server 2012.", False, None),
    # fault: a sentence about something no source says
    ("Tamper protection blocks registry changes from Intune policies quickly.", False, None),
    ("1.", False, None),  # fault: nothing to say
    # fault: the instruction's placeholder copied into the lead (seen on the tune half)
    ("Use mdatp exclusion folder add [n] to exclude a folder on Linux.", False, None),
    # fault: a value that only stands inside another one ("201" of "2012")
    ("Controlled folder access is not supported on Windows Server 201.", False, None),
    # fault: the command cut short, the way the lead once quoted "./msupdate --install --apps w"
    ("Use mdatp exclusion folder add --path /var/ba", False, None),
    ("Use mdatp exclusion folder add --pa", False, None),
    ("Use mdatp exclusion folder add --path /var/backup", True, 2),
])
def test_verdicts(sentence: str, supported: bool, source: int | None) -> None:
    verdict = support.check(sentence, SOURCES, 0.6)
    assert verdict.supported is supported, verdict
    if source is not None:
        assert verdict.source == source


def test_citation_is_re_attributed_to_the_supporting_source() -> None:
    sentence = "Use mdatp exclusion folder add --path to exclude a folder on Linux [1]."
    verdict = support.check(sentence, SOURCES, 0.6)
    assert support.attribute(sentence, verdict) == (
        "Use mdatp exclusion folder add --path to exclude a folder on Linux [2].")


def test_a_sentence_ending_inside_a_sources_command_word_names_it() -> None:
    verdict = support.check("Run ./msupdate --install --apps w", support.prepare(number_sources(
        [hit("mac-updates", text="Run ./msupdate --install --apps wdav00 to update now.")])), 0.6)
    assert not verdict.supported and verdict.reason == "cuts the source's 'wdav00' short"
    assert support.cut_short("they are offered updates a", "offered updates after a delay") == ""


def test_a_list_line_is_checked_against_its_own_item_alone() -> None:
    """Fault injected: the lead stitched the cores line and the memory line after it into
    "- Cores: 1GB minimum, 2 GB preferred" (the docs say 2 cores minimum, 4 preferred)."""
    lines = ("- Cores: 2 minimum, 4 preferred\n- Memory: 1GB minimum, 2 GB preferred\n"
             "- Disk: 4 GB minimum")
    sources = support.prepare(number_sources([hit("minimum-requirements", text=lines)]))
    stitched = support.check("- Cores: 1GB minimum, 2 GB preferred [1]", sources, 0.7)
    assert not stitched.supported and stitched.reason.startswith("only 60%")  # of the cores line
    assert support.check("- Memory: 1GB minimum, 2 GB preferred [1]", sources, 0.7).supported
    assert support.check("Cores: 2 minimum, 4 preferred; memory: 1GB minimum.", sources,
                         0.7).supported  # prose may still join two lines


UNINSTALL = ("There are several ways to uninstall Defender for Endpoint on Linux.\n\n"
             "- `sudo zypper remove mdatp` for SLES and variants.\n"
             "- `sudo apt-get purge mdatp` for Ubuntu and Debian systems.")
TIMEOUT = ("For example, the following command adds 50 seconds to the default 10-second period:\n\n"
           "```powershell\nSet-MpPreference -CloudExtendedTimeout 50\n```")


@pytest.mark.parametrize(("sentence", "supported", "reason"), [
    ("- `sudo apt-get purge mdatp` for Ubuntu and Debian systems [1].", True, ""),
    # fault: the SLES line's command with the Ubuntu line's words (a lead on the docsite index)
    ("- `sudo zypper remove mdatp` for Ubuntu and Debian systems [1].", False, "stand elsewhere"),
    ("Set-MpPreference -CloudExtendedTimeout 50 [2]", True, ""),
    # fault: the command retyped with the default's 10 instead of the example's 50 (seen too)
    ("Set-MpPreference -CloudExtendedTimeout 10 [2]", False, "retypes a command"),
])
def test_a_command_stands_in_the_source_as_written_and_where_its_words_are(
        sentence: str, supported: bool, reason: str) -> None:
    sources = support.prepare(number_sources([hit("linux-resources", text=UNINSTALL),
                                              hit("configure-cloud-block-timeout", text=TIMEOUT)]))
    verdict = support.check(sentence, sources, 0.7)
    assert verdict.supported is supported and reason in verdict.reason, verdict


def test_a_line_copied_word_for_word_is_checked_against_the_line_it_copies() -> None:
    """Fault injected: the model copies "- Do not send samples", and the item before it,
    "- Send all samples automatically", shares as many terms; the negation check compared the
    copy with that item and called it a contradiction."""
    options = ("You can choose from several options:\n\n- Send all samples automatically\n"
               "- Do not send samples\n- Send safe samples automatically")
    sources = support.prepare(number_sources([hit("sample-submission", text=options)]))
    assert support.check("- Do not send samples [1]", sources, 0.7).supported
    flipped = support.check("- Send samples [1]", sources, 0.7)  # a piece of the negated line
    assert not flipped.supported and "negates" in flipped.reason


def test_a_copied_table_row_must_keep_the_sources_cells_in_order() -> None:
    """Fault injected: the lead copied an EMET table row with its two answers swapped; every word
    is the row's, so only the cells' order shows it says the opposite (seen on the tune half)."""
    table = ("| Mitigation | Available under exploit protection | Available in EMET |\n"
             "| --- | --- | --- |\n| Don't allow child processes | Yes | No |\n"
             "| Block untrusted fonts | Yes | Yes |\nDeviceEvents | where ActionType == 'Block'")
    sources = support.prepare(number_sources([hit("emet-mitigations", text=table)]))
    swapped = support.check("- Don't allow child processes | No | Yes | [1]", sources, 0.6)
    assert not swapped.supported and "no row of the source" in swapped.reason
    assert support.check("- Don't allow child processes | Yes | No |", sources, 0.6).supported
    assert support.check("Block untrusted fonts | Yes", sources, 0.6).supported
    # a query's pipes are no table row
    assert support.check("DeviceEvents | where ActionType == 'Block'", sources, 0.6).supported


EXCLUSION_TABLE = ("| Exclusion Category | Exclusion Scope | Description |\n| --- | --- | --- |\n"
                   "| Global Exclusion | Antivirus and EDR engine (scope: global) | Excludes events "
                   "from real time protection and EDR visibility. |")
EXCLUSION_PROSE = ("Global exclusions apply to the antivirus and EDR engines. You can exclude "
                   "processes from network protection; a global exclusion excludes events.")


def test_a_row_copied_from_another_source_keeps_that_rows_cells_in_order() -> None:
    """Fault injected: the lead joined a row's first cell to a word of its last ("| Global
    Exclusion | Excludes", seen on the held-out half); the prose source holds more of its words,
    so the table's source must be the one that judges the cells."""
    sources = support.prepare(number_sources([hit("linux-exclusions", text=EXCLUSION_PROSE),
                                              hit("linux-exclusions-table", text=EXCLUSION_TABLE)]))
    mashed = support.check("| Global Exclusion | Excludes [1]", sources, 0.6)
    assert not mashed.supported and mashed.reason == support.ROW_UNHELD
    assert support.check("| Global Exclusion | Antivirus and EDR engine (scope: global) |",
                         sources, 0.6).supported


def test_a_tables_header_names_columns_and_states_nothing() -> None:
    sources = support.prepare(number_sources([hit("linux-exclusions", text=EXCLUSION_TABLE)]))
    assert support.names_columns('"The Exclusion Category | Exclusion Scope | Description | [1]',
                                 sources)
    assert support.names_columns("Exclusion scope and description", sources)  # flattened
    assert not support.names_columns("| Global Exclusion | Antivirus and EDR engine |", sources)
    assert not support.names_columns("Exclusion", sources)  # one word: `says_something` decides
