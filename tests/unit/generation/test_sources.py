"""Sources: the chunks of one section are one numbered source, in reading order, said once."""

from __future__ import annotations

from services.generation.sources import choose, join_continuation, merge_sections
from tests.unit.generation.hits import hit

FIRST = ("Defender for Endpoint can discover a proxy server using the `HTTPS_PROXY` environment "
         "variable. This setting must be configured both at installation time and after.")
# the chunker starts a continuation chunk with the end of the previous one (chunk_overlap_chars)
SECOND = ("at installation time and after.\n\n1. Run the following command:\n\n```bash\n"
          "mdatp config proxy set --value http://address:port\n```")
TABLE = "| Setting | Value |\n| --- | --- |\n| proxy | http://address:port |"
TABLE_MORE = "| Setting | Value |\n| --- | --- |\n| exclusions | /var/log |"


def chunk(text: str, position: int, score: float, anchor: str = "static-proxy") -> object:
    found = hit("linux-static-proxy-configuration", score, text=text, anchor=anchor)
    return found.model_copy(update={"position": position})


def test_two_chunks_of_a_section_are_one_source_at_the_best_place() -> None:
    # the fault: the same section's second chunk ranked first, its first chunk fourth
    hits = [chunk(SECOND, 4, 2.0), hit("linux-exclusions", 1.9), hit("mac-preferences", 1.5),
            chunk(FIRST, 3, 1.2)]
    shown = choose(hits, min_ratio=0.0)
    assert [s.url.split("/")[-1] for s in shown] == [
        "linux-static-proxy-configuration#static-proxy", "linux-exclusions", "mac-preferences"]
    assert shown[0].score == 2.0
    text = shown[0].text
    assert text.startswith(FIRST) and text.endswith(SECOND[len("at installation time and after."):])
    assert text.count("at installation time and after.") == 1  # the overlap is said once
    assert "mdatp config proxy set --value http://address:port" in text


def test_a_split_table_keeps_one_header_and_distant_chunks_a_blank_line() -> None:
    assert join_continuation(TABLE, TABLE_MORE) == TABLE + "\n| exclusions | /var/log |"
    merged = merge_sections([chunk("Far below.", 9, 1.0), chunk(FIRST, 2, 0.8)])
    assert len(merged) == 1 and merged[0].text == FIRST + "\n\nFar below."


def test_chunks_of_other_sections_stay_apart() -> None:
    hits = [chunk(FIRST, 3, 2.0, anchor="a"), chunk(SECOND, 4, 1.0, anchor="b")]
    assert [h.text for h in merge_sections(hits)] == [FIRST, SECOND]


def test_a_distant_chunk_loses_the_sentence_end_it_begins_with() -> None:
    # the fault: chunks 1 and 3 of one section were joined and the answer quoted chunk 3's
    # overlap with chunk 2, "non-Microsoft antivirus product.", as a sentence of its own
    later = "non-Microsoft antivirus product. EDR in block mode remediates it.\n\n- Step one."
    merged = merge_sections([chunk(FIRST, 1, 1.0), chunk(later, 3, 0.9)])
    assert merged[0].text == FIRST + "\n\nEDR in block mode remediates it.\n\n- Step one."
    assert merge_sections([chunk("a fragment only.\n- Item.", 7, 1.0), chunk(FIRST, 2, 0.8)])[
        0].text == FIRST + "\n\n- Item."
    steps = "and Profile Type. 4. Under Template Name, select Custom. 5. Enter a name."
    assert merge_sections([chunk(FIRST, 1, 1.0), chunk(steps, 3, 0.9)])[0].text == \
        FIRST + "\n\n" + steps  # cut there, the rest would read as one long step: kept whole
    values = "values to enable or audit are:\n\n- 2: Audit\n- 6: Warn"
    assert merge_sections([chunk(FIRST, 1, 1.0), chunk(values, 3, 0.9)])[0].text == \
        FIRST + "\n\n" + values  # the list's intro: without it, "2" and "6" would mean nothing
