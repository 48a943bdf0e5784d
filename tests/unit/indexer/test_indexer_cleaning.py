"""Cleaner: only the article survives, on every docsite page; headings, code, tables and notes kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.indexer.cleaning import clean_html, inline_text
from tests.conftest import SHARED

PAGES = sorted((SHARED / "site" / "en-us" / "defender-endpoint").glob("*.html"))
CHROME = ("Was this page helpful", "Skip to main content", "We use optional cookies",
          "Manage cookies", "Your Privacy Choices", "Terms of Use", "Table of contents",
          "Ask Learn", "This browser is no longer supported", "Need help with this topic",
          "Share via Facebook", "Exit focus mode", "Certification: Security Operations Analyst")
CHROME_HEADINGS = {"in this article", "feedback", "additional resources"}


@pytest.fixture(scope="module")
def cleaned() -> dict[str, object]:
    return {page.stem: clean_html(page.read_text(encoding="utf-8")) for page in PAGES}


def test_the_docsite_is_there() -> None:
    assert len(PAGES) >= 200


def test_no_chrome_text_survives_on_any_page(cleaned: dict) -> None:
    for name, page in cleaned.items():
        text = page.text
        for phrase in CHROME:
            assert phrase not in text, f"{name}: {phrase!r} survived"
        headings = {b.text.lower() for b in page.blocks if b.kind == "heading"}
        assert not headings & CHROME_HEADINGS, name
        assert not any(line.strip() == "In this article" for line in text.splitlines()), name


def test_every_page_keeps_its_title_and_headings_with_anchors(cleaned: dict) -> None:
    for name, page in cleaned.items():
        assert page.title and page.title != "Untitled", name
        for block in page.blocks:
            if block.kind == "heading":
                assert block.anchor, f"{name}: heading {block.text!r} without an anchor"


def test_the_sign_up_promo_is_dropped_from_every_page_but_a_step_about_a_trial_is_kept(
        cleaned: dict) -> None:
    # the fault: 90 pages carry "Want to experience Defender for Endpoint? Sign up for a free
    # trial." above the article; it was embedded with the first passage and quoted as evidence
    promos = [name for name, page in cleaned.items() if "Sign up for a free trial" in page.text]
    assert promos == []
    assert "1. Buy or try Defender for Endpoint today. Start a free trial or request a quote." in (
        cleaned["switch-to-mde-phase-1"].text)  # a real step that mentions a trial stays


def test_unrendered_docfx_directives_are_dropped_and_alerts_read_as_notes(cleaned: dict) -> None:
    # the fault: "[!VIDEO https://…]", "[!div class=…]" and "[!include…]" paragraphs (37 in the
    # docs) were embedded and quoted as evidence
    assert [name for name, page in cleaned.items() if "[!" in page.text] == []
    edr = cleaned["edr-in-block-mode"].text
    assert "Watch this video to learn why and how to turn on endpoint detection" in edr
    assert "learn-video.azurefd.net" not in edr
    page = clean_html("<main><h1 id='t'>T</h1><p>[!div class=\"mx-imgBorder\"]</p>"
                      "<p>[!VIDEO https://example.test/v?id=1]</p><ol><li>Open it. "
                      "[!div class=\"mx-imgBorder\"]</li></ol><p>Use the SID [!NOTE] Signed in "
                      "users have one.</p><pre><code>echo '[!div]'</code></pre></main>")
    assert [block.text for block in page.blocks[1:]] == [
        "1. Open it.", "Use the SID Note: Signed in users have one.", "```\necho '[!div]'\n```"]


def test_a_list_items_code_stays_where_it_stands(cleaned: dict) -> None:
    # the fault: an item's code blocks followed all of its text, so "run the following command:"
    # was followed by "and try again." and the command came after (36 items on the docs' pages)
    page = clean_html("<main><h1 id='t'>T</h1><ol><li><p>If it fails, run the following command:"
                      "</p><pre><code class='language-bash'>sudo ln -sf a b\n</code></pre>"
                      "<p>and try again.</p><pre><code>mdatp health</code></pre></li>"
                      "<li>Next step.</li></ol></main>")
    assert page.blocks[1].parts == (
        "1. If it fails, run the following command:\n  ```bash\nsudo ln -sf a b\n```\n"
        "and try again.\n  ```\nmdatp health\n```", "2. Next step.")
    install = cleaned["linux-support-install"].text
    assert install.index("run the following command:\n  ```bash\nsudo ln -sf") < install.index(
        "and try again.")


def test_the_platforms_a_page_declares_under_applies_to(cleaned: dict) -> None:
    # "Behavioral blocking and containment" is Windows-only and only its "Platforms:" list says so
    assert cleaned["behavioral-blocking-containment"].platforms == ["windows"]
    assert cleaned["network-protection"].platforms == ["linux", "macos", "windows"]
    assert cleaned["offboard-machines"].platforms == ["linux", "macos", "windows"]  # "Server 2016"
    assert cleaned["linux-exclusions"].platforms == []  # no list: the page does not say
    assert sum(bool(page.platforms) for page in cleaned.values()) >= 50
    later = clean_html("<main><h1 id='t'>T</h1><p>About.</p><h2 id='s'>S</h2><p>Platforms</p>"
                       "<ul><li>macOS</li></ul></main>")
    assert later.platforms == []  # a list inside a section is content, not the page's platforms


def test_linux_exclusions_keeps_headings_tables_code_and_notes(cleaned: dict) -> None:
    page = cleaned["linux-exclusions"]
    assert page.title == "Configure and validate exclusions for Microsoft Defender for Endpoint on Linux"
    assert page.canonical_url == "https://learn.microsoft.com/en-us/defender-endpoint/linux-exclusions"
    anchors = {b.anchor for b in page.blocks if b.kind == "heading"}
    assert {"supported-exclusion-scopes", "allow-a-threat", "see-also"} <= anchors
    text = page.text
    assert "| Exclusion | Definition | Examples |" in text  # table header as a Markdown row
    assert "| Folder | All files under the specified folder (recursively) |" in text
    assert "```bash\nmdatp threat allowed add --name [threat-name]\n```" in text  # code verbatim
    assert "Warning: Defining exclusions lowers the protection" in text  # note keeps its label
    assert "`mdatp_managed.json`" in text  # inline code marked


def test_code_blocks_are_verbatim_including_indentation() -> None:
    html = ("<main><div class='content'><h1 id='t'>T</h1><pre><code class='language-json'>{\n"
            "   \"a\": [\n      1\n   ]\n}\n</code></pre></div></main>")
    page = clean_html(html)
    code = [b for b in page.blocks if b.kind == "code"][0]
    assert code.text == '```json\n{\n   "a": [\n      1\n   ]\n}\n```'
    assert code.parts == ("{", '   "a": [', "      1", "   ]", "}")


def test_live_site_shape_without_the_docsite_classes() -> None:
    html = ("<html><head><title>Page - Microsoft Defender for Endpoint | Microsoft Learn</title>"
            "</head><body><header>Site header</header><main><nav>Breadcrumbs</nav>"
            "<h2>Intro</h2><p>Body text.</p><h2>Feedback</h2><p>Was this page helpful?</p>"
            "</main><footer>Footer links</footer></body></html>")
    page = clean_html(html)
    assert page.title == "Page"
    assert page.text == "## Intro\n\nBody text."


def test_inline_text_folds_whitespace_and_keeps_line_breaks() -> None:
    from bs4 import BeautifulSoup

    tag = BeautifulSoup("<p>one\n  two<br/>three <code>x  y</code></p>", "lxml").p
    assert inline_text(tag) == "one two\nthree `x y`"


def test_a_page_with_no_article_gives_no_blocks(tmp_path: Path) -> None:
    page = clean_html("<html><body><footer>Only chrome</footer></body></html>")
    assert page.blocks == []
