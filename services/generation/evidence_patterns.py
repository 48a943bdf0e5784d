"""What evidence units say, by their wording: a command, step or row (preferred when the question
asks how or which), an amount (when it asks how long or how many), a label or a pointer elsewhere
(never an answer), a command's printed output."""

from __future__ import annotations

import re

from services.generation.units import Unit

HOW = re.compile(r"\b(how|command|cmdlet|run|script|configure|enable|disable|turn|set|setting|"
                 r"registry|path|value|parameter|syntax|install|deploy|check|verify|schedule|"
                 r"which|what|where|version|event id|key)\b", re.IGNORECASE)
# a question after an amount (how long, how many, the maximum, which version) is answered by a unit
# that states one: a number with its unit ("24 hours", "1 GB", "up to three days", "101.23.1")
AMOUNT_QUESTION = re.compile(r"\bhow (long|many|much|often|far|big|large|soon|frequently)\b|\b("
                             r"minimum|maximum|max|min|limit|cap|oldest|latest|version|size|"
                             r"interval|timeout|retain|retention|expire|expires)\b", re.IGNORECASE)
NUMBER = r"(?:\d+(?:[.,]\d+)*|one|two|three|four|five|six|seven|eight|nine|ten|twelve)"
# "up to five concurrent, onboarded devices": a word or two may stand between a count and its unit
AMOUNT = re.compile(rf"\b{NUMBER}\s?(?:[a-z-]+,?\s){{0,2}}(?:%|seconds?|minutes?|hours?|days?|weeks?|months?|years?|"
                    r"[KMGT]B|cores?|CPUs?|times|devices|characters|files)(?!\w)|\b\d+\.\d+(?:\.\d+)+\b|"
                    # a count written with thousands separators is one whatever it counts
                    # ("a limit of 15,000 indicators per tenant")
                    r"\b\d{1,3}(?:,\d{3})+\b", re.IGNORECASE)
STRUCTURED = {"code": 1.0, "step": 0.6, "row": 0.6, "item": 0.3, "sentence": 0.0}
INLINE_CODE = re.compile(r"`[^`]+`|\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b|\b[a-z]+(?:_[a-z]+)+\b")
# labels, and the docs' trial promo ("Want to experience Defender for Endpoint? Sign up for a free
# trial.", on 90 of 226 pages): never an answer. The cleaner drops the promo since CLEANER_VERSION
# 2; an index built before it still holds the promo until its next update rebuilds it
BOILERPLATE = re.compile(r"^(applies to|important|note|tip|caution|warning)\b\W*$|"
                         r"^(>\s*)?\[?(want to (experience|try)\b.*\?|sign up for a free trial\b)",
                         re.IGNORECASE)
# a sentence that only sends the reader elsewhere ("For more information, see …", "This article
# describes …") spends the budget without saying anything the source links do not
NAVIGATION = re.compile(r"^(see|refer to|for more (information|details)|to learn more|learn more|"
                        r"this article|in this article|before you (begin|get started)|for detailed)\b",
                        re.IGNORECASE)
# a console block right after a command's block is what the command prints ("Folder exclusion
# configured successfully"): quoted alone it says nothing and spends the budget
OUTPUT_LANGUAGES = {"console", "output"}


def structure(unit: Unit) -> float:
    """How much a unit looks like a command, setting or step (a sentence with inline code counts)."""
    if unit.kind == "sentence" and INLINE_CODE.search(unit.text):
        return STRUCTURED["step"]
    return STRUCTURED[unit.kind]
