"""The model's lead, released one finished sentence at a time.

Each sentence is checked before anyone sees it: a sentence (or an 8-word run) the answer already
said, or a sentence that says a run twice, stops the generation; a sentence that breaks off or
asks, or that the sources do not support, is dropped and recorded; a supported one that repeats an 8-word run of the evidence quoted
below it is left out (the answer would say it twice); the others get the `[n]` of the source that
supports them best and only the URLs the sources hold.
Without sources (`ft`) sentences are not checked for support, and no URL survives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.generation import support
from services.generation.citations import clean_text
from shared.schemas import DroppedSentence
from shared.terms import word_runs, words

BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+|\n")
NGRAM = 8
CODE = re.compile(r"```.*?```", re.DOTALL)
# the model sometimes opens with a Q&A label ("A:\nTo create a custom allow indicator, …")
ANSWER_LABEL = re.compile(r"^(?:A|Answer|answer):\s+")
# a numbering line joins the line after it ("2.\n- Cloud-delivered protection …"): shown, it
# numbers nothing; nor does a line that is only a table's cell separator ("|\nYou can …")
LONE_NUMBER = re.compile(rf"^(?:{support.MARKER}|\|)[ \t]*\n\s*")
# a sentence that stops where its claim should come ("A hash value of the [1]") says nothing
DANGLING = re.compile(r"\b(?:the|a|an|of|to|for|with|and|or|from|that|is|are|was|be|as|your|its|"
                      r"their|this|these|than|into|can|could|will|would|should|must|may|might)$",
                      re.IGNORECASE)  # not "sign in", "turned on"
# a piece that goes on ("Otherwise, run [2]:", "If none of the above steps help, [1]", an open
# '{ "cloudService":{') joins what follows, like a fragment
CONTINUES = re.compile(r"[:,;(\[{]$")
# a last line that is only a list marker ("… Configuration Manager:\n2.") opens the next item
ENDS_WITH_MARKER = re.compile(rf"\n[ \t]*{support.MARKER}$")
# the model sometimes asks the question back ("Question: when is controlled folder access …?"):
# a question answers nothing
ASKS = re.compile(r"^(?:Q|Question):|\?$", re.IGNORECASE)
PAIRS = ("()", "[]", "{}")
MAX_JOINED = 400  # a bracket left open joins this much at most: it must not swallow the lead


@dataclass
class LeadGate:
    sources: list[support.SourceText] | None  # None: nothing to check against (ft)
    allowed_urls: set[str]
    source_count: int
    min_coverage: float
    max_sentences: int
    max_dropped: int = 2  # this many unsupported sentences: the model is off track, stop it
    evidence: list[str] = field(default_factory=list)  # the units quoted after the lead
    kept: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)  # supported, but the evidence says it already
    dropped: list[DroppedSentence] = field(default_factory=list)
    stopped: str | None = None  # why the lead was cut short: repeated | sentences | unsupported
    pending: str = ""
    released: list[str] = field(default_factory=list)  # exactly what was streamed
    _seen: set[str] = field(default_factory=set)
    _ngrams: set[tuple[str, ...]] = field(default_factory=set)
    _evidence_ngrams: set[tuple[str, ...]] = field(default_factory=set)
    _evidence_lines: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # over the evidence as the answer prints it: a run may cross two quoted lines ("Where:" /
        # "- 0: Disable …")
        self._evidence_ngrams = set(word_runs("\n".join(self.evidence), NGRAM))
        self._evidence_lines = {" ".join(words(part)) for text in self.evidence
                                for part in BOUNDARY.split(text)}

    def feed(self, piece: str) -> str:
        """Text that is final now (whole checked sentences); sets `stopped` to end generation."""
        self.pending += piece
        out: list[str] = []
        while not self.stopped and (match := self._boundary()):
            sentence, self.pending = self.pending[:match.end()], self.pending[match.end():]
            out.append(self._release(sentence))
        self.released.extend(out)
        return "".join(out)

    def flush(self, cut: bool = False) -> str:
        """The unfinished last sentence, checked like the others; `cut`: the token limit ended
        the generation, and a sentence it cut off mid-claim is no sentence the model finished
        (not shown, not counted). One the model itself ended mid-claim is dropped and counted."""
        rest, self.pending = self.pending, ""
        # a checked lead's trailing fragment ("3.") says nothing; unchecked (`ft`) "Yes." does
        fragment = not rest.strip() or (self.sources is not None and (
            not support.says_something(rest) or (cut and unfinished(rest))))
        out = "" if self.stopped or fragment else self._release(rest)
        self.released.append(out)
        return out

    def _boundary(self) -> re.Match[str] | None:
        """The end of the first whole sentence: a fragment ("1.", "Note:") or a piece that breaks
        off ("run the following:", "If none of the above help,") joins what follows."""
        if self.pending.count("```") % 2:  # inside a code block: wait for its end
            return None
        return next((match for match in BOUNDARY.finditer(self.pending)
                     if not self.pending[:match.start()].count("```") % 2  # not inside one
                     and support.says_something(self.pending[:match.end()])
                     and (match.end() > MAX_JOINED or not continues(self.pending[:match.end()]))),
                    None)

    def _release(self, sentence: str) -> str:
        text = LONE_NUMBER.sub("", ANSWER_LABEL.sub("", sentence.strip()))
        if not text:
            return sentence if self.kept else ""
        if self.sources is not None and support.names_columns(text, self.sources):
            return ""  # a table's header, like a lone number, says nothing: not a sentence
        if self._repeats(text):
            self.stopped = "repeated"
            return ""
        text = clean_text(text, self.allowed_urls, self.source_count)
        if self.sources is not None and unfinished(text):
            self.dropped.append(DroppedSentence(text=text, reason="unfinished: it breaks off or "
                                                                  "asks instead of saying"))
            return ""
        if self.sources is not None:
            verdict = support.check(text, self.sources, self.min_coverage)
            if not verdict.supported:
                self.dropped.append(DroppedSentence(text=text, reason=verdict.reason))
                if len(self.dropped) >= self.max_dropped and verdict.coverage > 0:
                    self.stopped = "unsupported"
                return ""
            text = support.attribute(text, verdict)
        plain = support.CITATION.sub("", text)
        # a numbering line ("1.") or a lone word ("sudo", a command cut short) says nothing: it
        # does not make a quoted line the lead's own
        lines = [" ".join(own) for part in BOUNDARY.split(plain)
                 if len(own := words(part)) > 1 and not all(word.isdigit() for word in own)]
        # one line of three words or more that the evidence prints would be said twice
        said_below = (bool(lines) and all(line in self._evidence_lines for line in lines)
                      or any(line in self._evidence_lines for line in lines if line.count(" ") > 1)
                      or bool(set(word_runs(self._after_shown(plain), NGRAM))
                              & self._evidence_ngrams))
        (self.quoted if said_below else self.kept).append(text)
        if len(self.kept) + len(self.quoted) >= self.max_sentences:
            self.stopped = "sentences"
        return "" if said_below else text + sentence[len(sentence.rstrip()):]

    def _after_shown(self, plain: str) -> str:
        """The sentence after the last words shown before it: the evidence below may hold a run
        across the two ("… on Windows or Windows Server." / "- Block at first sight …")."""
        before = words(support.CITATION.sub("", self.kept[-1]))[1 - NGRAM:] if self.kept else []
        return " ".join([*before, plain])

    def _repeats(self, text: str) -> bool:
        """True when the sentence, or any 8-word run of it, was said before in this answer, or
        the sentence says a run twice itself ("mitigation mitigation mitigation …"; a code
        block may repeat its lines)."""
        plain = support.CITATION.sub("", text)
        key = " ".join(words(plain))
        runs = word_runs(CODE.sub(" ", plain), NGRAM)
        grams = set(word_runs(plain, NGRAM))
        if (key and key in self._seen) or grams & self._ngrams or len(set(runs)) < len(runs):
            return True
        self._seen.add(key)
        self._ngrams |= grams
        return False

    @property
    def text(self) -> str:
        """The lead as streamed (sentence separators included), without outer whitespace."""
        return "".join(self.released).strip()

    def checked_sentences(self) -> int:
        return len(self.kept) + len(self.dropped)


def _plain(sentence: str) -> str:
    return CODE.sub(" ", support.CITATION.sub("", sentence)).strip().rstrip(".").rstrip()


def _goes_on(plain: str, sentence: str) -> bool:
    return (bool(CONTINUES.search(plain) or ENDS_WITH_MARKER.search(sentence.rstrip()))
            or plain.count("`") % 2 == 1
            or any(plain.count(open_) != plain.count(close) for open_, close in PAIRS))


def continues(piece: str) -> bool:
    """Whether a piece goes on after its line: it ends on a colon or comma, or leaves a bracket
    or a code span open (a fenced block may hold any text), or its last line opens a list item."""
    return _goes_on(_plain(piece), piece)


def unfinished(sentence: str) -> bool:
    """Whether a sentence breaks off before its claim, never closes what it opened, or asks
    instead of saying."""
    plain = _plain(sentence)
    return _goes_on(plain, sentence) or bool(DANGLING.search(plain) or ASKS.search(plain))
