"""Term statistics of the indexed corpus: in how many chunks each content term occurs.

The generation service weighs a question's terms by their rarity (IDF) when it picks evidence and
checks answers, and asks whether a question's terms occur in the documentation at all when it
decides to refuse. The same pass reads the acronyms the chunks define (`glossary`), which search
spells out in queries. Both are built from the stored chunks on first use and rebuilt when the
collection changes (its point count, last update or serving shard differ).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable

from services.retrieval.glossary import Glossary, mine
from services.retrieval.store import VectorStore
from shared.schemas import TermsResponse
from shared.terms import stems, term_key

log = logging.getLogger(__name__)
SCROLL_PAGE = 1000


def document_frequencies(texts: Iterable[str]) -> Counter[str]:
    """term -> number of texts containing it (terms as `shared.terms.stems` makes them)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(stems(text))
    return counts


class TermTable:
    """Document frequencies over a store's chunks, cached until the collection changes."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._version: tuple[object, ...] | None = None
        self._counts: Counter[str] = Counter()
        self._documents = 0
        self._glossary = Glossary()

    def lookup(self, terms: list[str]) -> TermsResponse:
        """How many chunks there are and how many contain each term."""
        with self._lock:
            self._refresh()
            return TermsResponse(documents=self._documents,
                                 frequencies={t: self._counts.get(term_key(t), 0) for t in terms})

    def glossary(self) -> Glossary:
        """The acronyms the stored chunks define."""
        with self._lock:
            self._refresh()
            return self._glossary

    def _refresh(self) -> None:
        info = self.store.info()
        version = (info.serving, info.points, info.updated_at)
        if version == self._version:
            return
        started = time.perf_counter()
        texts: list[str] = []
        offset: str | None = None
        while True:
            payloads, offset = self.store.scroll(offset, SCROLL_PAGE)
            texts.extend(str(p.get("embed_text") or p.get("text") or "") for p in payloads)
            if offset is None:
                break
        self._counts, self._documents = document_frequencies(texts), len(texts)
        self._glossary = mine(texts)
        self._version = version
        log.info("term statistics and %d acronyms of %d chunks built in %.1f s",
                 len(self._glossary.terms), len(texts), time.perf_counter() - started)
