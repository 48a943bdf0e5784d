"""Passages cut into quotable units: sentences, items, steps, rows with their header, code."""

from __future__ import annotations

from services.generation.units import split_sentences, split_units

PASSAGE = """tail of the previous chunk, carried over. Then a full sentence.

### Configure the proxy

To set the proxy for mdatp, use the following command:

```bash
mdatp config proxy set --value http://address:port
```

1. Open the portal, e.g. the Defender portal.
2. Select Settings.
   More detail for step two.

| Setting | Value |
| --- | --- |
| Proxy | `http://proxy:8080` |
| Port | 8080 |

- Only this item
"""


def test_units_keep_kinds_text_and_order() -> None:
    units = split_units(PASSAGE)
    kinds = [u.kind for u in units]
    assert kinds == ["sentence", "sentence", "code", "step", "step", "row", "row", "item"]
    assert units[0].text == "Then a full sentence."  # the leading fragment is dropped
    assert units[1].ends_with_colon and units[1].heading == "Configure the proxy"
    assert units[2].text == "mdatp config proxy set --value http://address:port"  # verbatim
    assert units[2].language == "bash"
    assert units[4].text == "2. Select Settings.\n   More detail for step two."
    assert units[5].text == "| Setting | Value |\n| --- | --- |\n| Proxy | `http://proxy:8080` |"
    assert [u.position for u in units] == sorted(u.position for u in units)


def test_a_leading_fragment_that_introduces_a_list_is_kept_with_it() -> None:
    units = split_units("values to enable (Block), warn, or audit are:\n\n- 2: Audit\n- 6: Warn")
    assert [u.text for u in units] == ["values to enable (Block), warn, or audit are:",
                                       "- 2: Audit", "- 6: Warn"]
    assert units[0].ends_with_colon


def test_blocks_group_a_list_a_table_and_separate_code() -> None:
    units = split_units(PASSAGE)
    steps, rows = units[3:5], units[5:7]
    assert steps[0].block == steps[1].block and rows[0].block == rows[1].block
    assert len({units[1].block, units[2].block, steps[0].block, rows[0].block}) == 4


def test_applies_to_lists_are_page_chrome() -> None:
    units = split_units("Applies to:\n\n- Defender for Endpoint Plan 1\n- Plan 2\n\nReal text here.")
    assert [u.text for u in units] == ["Real text here."]


def test_the_platforms_list_under_applies_to_is_page_chrome_too() -> None:
    # the fault: answers quoted "> Platforms" and "> - Windows" from the top of Windows-only pages
    units = split_units("Applies to:\n\n- Plan 1\n- Plan 2\n\nPlatforms\n\n- Windows\n- macOS\n\n"
                        "Turn it on with Intune. Platforms differ.\n\nPlatforms\n\n- Linux")
    assert [u.text for u in units] == [
        "Turn it on with Intune.", "Platforms differ.", "Platforms", "- Linux"]  # in the prose: kept
    later = split_units("2\n\n- Microsoft Defender Antivirus\n\nPlatforms\n\n- Windows\n\nNote: New.")
    assert [u.text for u in later] == ["2", "- Microsoft Defender Antivirus", "Note: New."]


def test_a_note_above_the_lists_does_not_make_the_platforms_list_prose() -> None:
    # the fault: the update schedule page opens with an "Important:" note, and its "Platforms" /
    # "- Windows" were quoted as evidence
    units = split_units("Important: Customers who applied the March engine update saw high CPU. "
                        "Microsoft has released an update.\n\nApplies to:\n\n- Plan 1\n\n"
                        "Platforms\n\n- Windows\n\nDefender lets you schedule updates.")
    assert [u.text for u in units] == [
        "Important: Customers who applied the March engine update saw high CPU.",
        "Microsoft has released an update.", "Defender lets you schedule updates."]


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Use a tool, e.g. Mdatp on Linux. Then run it. Version 4.18.2 is needed."
    assert split_sentences(text) == ["Use a tool, e.g. Mdatp on Linux.", "Then run it.",
                                     "Version 4.18.2 is needed."]
