"""Service text is shown as text: no HTML, no images, no LaTeX, no accidental Markdown structure."""

from __future__ import annotations

import pytest

from ui.markup import AnswerEscaper, escape_answer, escape_md, md_link, safe_url


@pytest.mark.parametrize(("text", "expected"), [
    ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
    ("**bold** and _it_", r"\*\*bold\*\* and \_it\_"),
    ("[click](javascript:x)", r"\[click\](javascript:x)"),
    ("![img](http://evil/x.png)", r"\!\[img\](http://evil/x.png)"),
    ("costs $5 and $6", r"costs \$5 and \$6"),
    ("- not a list", r"\- not a list"),
    ("1. not a list", r"1\. not a list"),
    ("# not a heading", r"\# not a heading"),
    ("two\nlines", "two lines"),
    ("&lt;b&gt;", r"\&lt;b\&gt;"),
    (None, ""),
])
def test_escape_md(text: str | None, expected: str) -> None:
    assert escape_md(text) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://learn.microsoft.com/en-us/x#anchor", "https://learn.microsoft.com/en-us/x#anchor"),
    ("http://docs.test/a b", "http://docs.test/a%20b"),
    ("javascript:alert(1)", None),                 # fault: script URL
    ("data:text/html,<script>", None),             # fault: data URL
    ("//evil.test/x", None),                       # fault: no scheme
    ("", None),
])
def test_safe_url(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_md_link_escapes_the_label_and_the_parentheses() -> None:
    assert md_link("Title [x]", "http://d.test/a_(b)") == r"[Title \[x\]](http://d.test/a_%28b%29)"
    assert md_link("<b>t</b>", "javascript:x") == r"\<b\>t\</b\>"


def test_answer_escaping_leaves_code_alone() -> None:
    text = ("Run `mdatp <health>` then see $HOME & <b>this</b>\n"
            "```\nGet-MpComputerStatus | Select $x\n```\n!")
    escaped = escape_answer(text)
    assert "`mdatp <health>`" in escaped
    assert "Get-MpComputerStatus | Select $x" in escaped
    assert r"\$HOME &amp; &lt;b&gt;this&lt;/b&gt;" in escaped
    assert escaped.endswith("\\!")


def test_streamed_escaping_equals_whole_text_escaping() -> None:
    text = "A `x` and ``y ` z`` then ```\n<a>$\n``` <i>[1]</i> ![img](u)"
    whole = escape_answer(text)
    for size in (1, 2, 3, 7):
        escaper = AnswerEscaper()
        pieces = [escaper.feed(text[i:i + size]) for i in range(0, len(text), size)]
        assert "".join(pieces) + escaper.flush() == whole


def test_links_in_answers_survive() -> None:
    assert escape_answer("[1](https://learn.microsoft.com/x#y)") == \
        "[1](https://learn.microsoft.com/x#y)"
