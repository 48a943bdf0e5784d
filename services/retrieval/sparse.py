"""BM25 sparse vectors with Qdrant's own encoder, so embedded and server collections hold the same ones.

The `code` tokenizer keeps technical tokens findable: `Set-MpPreference` gives `set`, `mppreference`,
`mp` and `preference`; `EnableControlledFolderAccess` gives the whole word and its camelCase parts;
`0x80070005`, `mdatp` and registry path parts stay single tokens. IDF is applied by the collection
(sparse vector modifier), so documents carry term frequencies only.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import IndexSettings


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


class SparseEncoder:
    """Documents get BM25 term-frequency weights; queries get 1.0 per unique token."""

    def __init__(self, settings: IndexSettings) -> None:
        from qdrant_edge import Bm25, Bm25Config, TokenizerType

        tokenizer = TokenizerType.Code if settings.bm25_tokenizer == "code" else TokenizerType.Word
        self._model = Bm25(Bm25Config(k=settings.bm25_k, b=settings.bm25_b,
                                      avg_len=settings.bm25_avg_len, tokenizer=tokenizer,
                                      language="english"))

    def document(self, text: str) -> Sparse:
        vector = self._model.embed_document(text)
        return Sparse(list(vector.indices), list(vector.values))

    def query(self, text: str) -> Sparse:
        vector = self._model.embed_query(text)
        return Sparse(list(vector.indices), list(vector.values))


def sparse_settings(settings: IndexSettings) -> dict[str, object]:
    """The BM25 settings that change stored vectors (part of the index settings hash)."""
    return {"tokenizer": settings.bm25_tokenizer, "k": settings.bm25_k, "b": settings.bm25_b,
            "avg_len": settings.bm25_avg_len}
