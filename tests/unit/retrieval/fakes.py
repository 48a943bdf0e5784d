"""Test doubles for retrieval tests: a bag-of-words embedder and chunk builders."""

from __future__ import annotations

import hashlib
import math
import re

from services.indexer.chunking import point_id
from shared.schemas import Chunk, PointIn

DIM = 256


class WordEmbedder:
    """Hashes words into DIM buckets and normalises: texts sharing words are close."""

    dim = DIM

    def embed(self, texts: list[str], kind: str = "passage") -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * DIM
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                vector[int.from_bytes(hashlib.md5(word.encode()).digest()[:2], "big") % DIM] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (DIM - 1))
        return vectors


def make_chunk(slug: str, position: int, text: str, page_hash: str = "h1",
               anchor: str = "intro") -> Chunk:
    url = f"https://learn.example/en-us/defender-endpoint/{slug}"
    return Chunk(id=point_id(url, position), page_id=f"id-{slug}", url=url, title=slug,
                 heading_path=[slug, anchor], anchor=anchor, anchors=["top", anchor],
                 position=position, text=text, embed_text=f"{slug} › {anchor}\n\n{text}",
                 content_hash=hashlib.sha256(text.encode()).hexdigest()[:32], page_hash=page_hash)


def points(chunks: list[Chunk]) -> list[PointIn]:
    vectors = WordEmbedder().embed([c.embed_text for c in chunks])
    return [PointIn(chunk=c, vector=v) for c, v in zip(chunks, vectors)]


CORPUS = [
    ("linux-exclusions", 0, "Add an antivirus exclusion on Linux with mdatp exclusion folder add"),
    ("linux-exclusions", 1, "Global exclusions apply to EDR and real-time protection scope"),
    ("enable-controlled-folders", 0, "Set-MpPreference -EnableControlledFolderAccess AuditMode "
                                     "turns on audit mode in PowerShell"),
    ("troubleshoot-onboarding", 0, "Error 0x80070005 access denied while onboarding a device"),
    ("tamper-protection", 0, "Tamper protection locks security settings on Windows devices"),
]
