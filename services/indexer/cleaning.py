"""HTML page -> the article alone: title, canonical URL and a flat list of Markdown blocks.

Keeps headings (with their anchor ids), paragraphs, lists, tables (Markdown rows), code blocks
(verbatim) and notes; drops the site chrome that learn.microsoft.com and the docsite wrap around it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, NavigableString, Tag

from shared.platforms import platforms
from shared.terms import slugify

log = logging.getLogger(__name__)

CLEANER_VERSION = 5  # part of the index settings hash: bump when the output changes

CHROME_SELECTORS = (
    "script", "style", "noscript", "template", "svg", "form", "button", "header", "footer", "aside",
    "nav", "img", ".cookie-banner", "#cookie-consent-holder", ".skip-to-main-link", ".breadcrumbs",
    ".article-header", ".page-metadata", ".doc-outline", "#center-doc-outline", ".feedback-section",
    "[data-bi-name=feedback-section]", "#ms--additional-resources", ".banner", ".action-container",
    "#site-user-feedback-footer", ".binary-rating", ".locale-selector",
)
CHROME_HEADINGS = {"feedback", "additional resources", "in this article", "was this page helpful?"}
TITLE_SUFFIX = re.compile(r"\s+[-|]\s+(Microsoft Defender for Endpoint|Microsoft Learn).*$")
CONTAINERS = {"div", "section", "article", "center", "details", "span", "main", "figure", "font"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# the docs' sign-up promo ("Want to experience Defender for Endpoint? Sign up for a free trial.",
# on 90 of 226 pages): it says nothing about the product, yet it was embedded and quoted as evidence
PROMO = re.compile(r"^(?:\w+:\s*)?want to (?:experience|try)\b[^?\n]{0,80}\?\s*\[?sign up for a free "
                   r"trial\b[^\n]{0,20}$", re.IGNORECASE)
PLATFORMS_LABEL = re.compile(r"^platforms\W*$", re.IGNORECASE)
# DocFX markup the site left unrendered (36 paragraphs of the docs are nothing else): layout
# ([!div class="mx-imgBorder"]), videos a reader cannot play here, includes whose text is missing.
# They were embedded and quoted as evidence ("> [!VIDEO https://learn-video…] [4]")
DIRECTIVE = re.compile(r"\[!(?:div|video|include)[^\]]*\]", re.IGNORECASE)
ALERT = re.compile(r"\[!(note|tip|important|caution|warning)\]", re.IGNORECASE)  # "Note:" as notes
CODE_MARK = "\x01"  # where a list item's code block stands, while its text is read
BREAK = "\x00"  # a <br>, turned into a newline (or a space in table cells) after whitespace folding


@dataclass(frozen=True)
class Block:
    """One piece of the article. `parts` are the places it may be split: list items, table rows
    (parts[0] is the header), code lines."""

    kind: str  # heading | text | list | table | code
    text: str
    level: int = 0
    anchor: str | None = None
    parts: tuple[str, ...] = ()


@dataclass
class CleanPage:
    title: str
    canonical_url: str | None
    blocks: list[Block] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # every element id in the article: valid anchors
    description: str = ""  # <meta name="description">: the page's own summary
    platforms: list[str] = field(default_factory=list)  # declared under "Applies to"; [] = unsaid

    @property
    def text(self) -> str:
        """The whole article as Markdown."""
        return "\n\n".join(render_heading(b) if b.kind == "heading" else b.text for b in self.blocks)


def render_heading(block: Block) -> str:
    return "#" * block.level + " " + block.text


def clean_html(html: str) -> CleanPage:
    """Parse a docs page and return its article without chrome."""
    soup = BeautifulSoup(html, "lxml")
    canonical = soup.find("link", rel="canonical")
    canonical_url = canonical.get("href") if isinstance(canonical, Tag) else None
    meta = soup.find("meta", attrs={"name": "description"})
    description = _fold(str(meta.get("content") or "")) if isinstance(meta, Tag) else ""
    root = _article_root(soup)
    for selector in CHROME_SELECTORS:
        for element in root.select(selector):
            element.decompose()
    blocks = [block for block in _drop_chrome_sections(_blocks(root))
              if not (block.kind == "text" and PROMO.match(block.text))]
    title = _title(soup, blocks)
    ids = {str(el["id"]) for el in root.find_all(id=True)} | {b.anchor for b in blocks if b.anchor}
    return CleanPage(title, str(canonical_url) if canonical_url else None, blocks, ids,
                     description.replace(BREAK, " "), declared_platforms(blocks))


def declared_platforms(blocks: list[Block]) -> list[str]:
    """The platforms a page's "Platforms:" list names, above its first section ("Behavioral
    blocking" is Windows-only, and only that list says so)."""
    for block, following in zip(blocks, blocks[1:]):
        if block.kind == "heading" and block.level > 1:
            break
        if block.kind == "text" and PLATFORMS_LABEL.match(block.text) and following.kind == "list":
            return sorted(platforms(following.text))
    return []


def _article_root(soup: BeautifulSoup) -> Tag:
    main = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article")
    main = main if isinstance(main, Tag) else (soup.body or soup)
    h1 = main.find("h1")
    if isinstance(h1, Tag):  # the innermost container holding the title and the article body
        for parent in h1.parents:
            if parent is main:
                break
            if parent.name == "div" and "content" in (parent.get("class") or []):
                return parent
    return main


def _title(soup: BeautifulSoup, blocks: list[Block]) -> str:
    for block in blocks:
        if block.kind == "heading" and block.level == 1:
            return block.text
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    return TITLE_SUFFIX.sub("", title) or "Untitled"


def _drop_chrome_sections(blocks: list[Block]) -> list[Block]:
    """Drop "Feedback", "Additional resources" and similar sections up to the next equal heading."""
    kept: list[Block] = []
    skip_level = 0
    for block in blocks:
        if block.kind == "heading":
            if skip_level and block.level <= skip_level:
                skip_level = 0
            if block.text.strip().lower() in CHROME_HEADINGS:
                skip_level = block.level
        if not skip_level:
            kept.append(block)
    return kept


def _blocks(element: Tag) -> list[Block]:
    blocks: list[Block] = []
    for child in element.children:
        if isinstance(child, NavigableString):
            text = _unmarked(_fold(str(child)).replace(BREAK, " "))
            if text and child.__class__ is NavigableString:  # not a comment or doctype
                blocks.append(Block("text", text))
        elif isinstance(child, Tag):
            blocks.extend(_element_blocks(child))
    return blocks


def _element_blocks(tag: Tag) -> list[Block]:
    name = tag.name
    if name in HEADINGS:
        text = inline_text(tag)
        if not text:
            return []
        anchor = str(tag.get("id") or slugify(text))
        return [Block("heading", text, level=HEADINGS[name], anchor=anchor)]
    if name == "pre":
        return [_code_block(tag)]
    if name in ("ul", "ol"):
        items = _list_items(tag, 0)
        return [Block("list", "\n".join(items), parts=tuple(items))] if items else []
    if name == "table":
        rows = _table_rows(tag)
        return [Block("table", "\n".join(rows), parts=tuple(rows))] if len(rows) > 2 else []
    if name == "blockquote":
        return _note_blocks(tag)
    if name in CONTAINERS:
        return _blocks(tag)
    text = inline_text(tag)
    return [Block("text", text)] if text else []


def _code_block(pre: Tag) -> Block:
    code = pre.find("code")
    language = ""
    if isinstance(code, Tag):
        for cls in code.get("class") or []:
            if cls.startswith("language-"):
                language = cls.removeprefix("language-").lower()
    body = pre.get_text().strip("\n")
    lines = tuple(body.splitlines())
    return Block("code", f"```{language}\n{body}\n```", parts=lines, anchor=language or None)


def _note_blocks(quote: Tag) -> list[Block]:
    """A note/warning: its title becomes a prefix of its first paragraph."""
    title_tag = quote.find(class_="alert-title")
    title = inline_text(title_tag) if isinstance(title_tag, Tag) else ""
    if isinstance(title_tag, Tag):
        title_tag.decompose()
    blocks = _blocks(quote)
    if title and blocks and blocks[0].kind == "text":
        blocks[0] = Block("text", f"{title}: {blocks[0].text}")
    elif title:
        blocks.insert(0, Block("text", f"{title}:"))
    return blocks


def _list_items(tag: Tag, depth: int) -> list[str]:
    items: list[str] = []
    number = 0
    for li in tag.find_all("li", recursive=False):
        number += 1
        marker = f"{number}." if tag.name == "ol" else "-"
        nested: list[str] = []
        for sub in li.find_all(["ul", "ol"], recursive=False):
            nested.extend(_list_items(sub.extract(), depth + 1))
        indent = "  " * depth
        items.append(f"{indent}{marker} {_item_lines(li, indent)}".rstrip())
        items.extend(nested)
    return items


def _item_lines(li: Tag, indent: str) -> str:
    """A list item's text with its code blocks where they stand: "run the following command:",
    the command, "and try again." (the code used to follow all of the item's text)."""
    codes: list[str] = []
    for pre in li.find_all("pre"):
        codes.append(_code_block(pre).text)
        pre.replace_with(NavigableString(f"{CODE_MARK}{len(codes) - 1}{CODE_MARK}"))
    pieces = re.split(f"{CODE_MARK}(\\d+){CODE_MARK}", inline_text(li))
    lines = []
    for i, piece in enumerate(pieces):
        if i % 2:
            lines.append(indent + "  " + codes[int(piece)])
        elif piece.strip():
            lines.extend(piece.strip().split("\n"))
    return "\n".join(lines)


def _table_rows(table: Tag) -> list[str]:
    rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    cells = [[_cell_text(c) for c in tr.find_all(["th", "td"], recursive=False)] for tr in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return []
    width = max(len(row) for row in cells)
    header = cells[0] + [""] * (width - len(cells[0]))
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * width]
    for row in cells[1:]:
        lines.append("| " + " | ".join(row + [""] * (width - len(row))) + " |")
    return lines


def _cell_text(cell: Tag) -> str:
    return inline_text(cell).replace("\n", " ").replace("|", "\\|")


def inline_text(tag: Tag) -> str:
    """The visible text of an element on one line (newlines only where <br> was); code in backticks."""
    parts: list[str] = []
    _collect(tag, parts)
    text = _fold("".join(parts))
    return _unmarked(re.sub(r" *\n *", "\n", text.replace(BREAK, "\n"))).strip()


def _unmarked(text: str) -> str:
    """The text without DocFX directives; an alert marker reads as the notes do ("Note: …")."""
    if "[!" not in text:
        return text
    text = ALERT.sub(lambda found: f"{found.group(1).capitalize()}:", DIRECTIVE.sub("", text))
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _collect(tag: Tag, parts: list[str]) -> None:
    for child in tag.children:
        if isinstance(child, NavigableString):
            if child.__class__ is NavigableString:  # skip comments, CDATA, doctype
                parts.append(str(child))
        elif child.name == "br":
            parts.append(BREAK)
        elif child.name == "code":
            code = _fold(child.get_text())
            parts.append(f"`{code}`" if code else "")
        elif child.name in ("p", "div", "li", "ul", "ol", "table", "pre", "blockquote"):
            parts.append(BREAK)
            _collect(child, parts)
            parts.append(BREAK)
        else:
            _collect(child, parts)


def _fold(text: str) -> str:
    folded = re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
    return re.sub(f" *{BREAK}[ {BREAK}]*", BREAK, folded).strip(BREAK + " ")
