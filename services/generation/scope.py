"""Scope: a question about another product than the one the index documents ("release a phishing
email in Defender for Office 365", "ports for the Defender for Identity sensor") is not answered by
these docs, however close the retrieved passages' words. MDE's pages mention their sibling products
in passing (lists of the Defender XDR family, integrations); a page that documents one names it in
its title or a heading. So such a question is refused unless a retrieved section is about the
product it names, or the closest passage names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.schemas import SearchHit


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"\b" + r"\s+".join(map(re.escape, name.split())) + r"\b", re.IGNORECASE)


def named(text: str, products: Sequence[str]) -> str | None:
    """The product a text names, the longest name first ("Defender for Cloud Apps" before
    "Defender for Cloud")."""
    return next((name for name in sorted(products, key=len, reverse=True)
                 if _pattern(name).search(text)), None)


def other_product(question: str, hits: Sequence[SearchHit], products: Sequence[str]) -> str | None:
    """The other product the question asks about when no retrieved section is about it."""
    product = named(question, products)
    if product is None or not hits:
        return None
    pattern = _pattern(product)
    about = any(pattern.search(" ".join([hit.title, *hit.heading_path])) for hit in hits)
    return None if about or pattern.search(hits[0].text) else product
