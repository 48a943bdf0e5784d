"""The one tune/held-out split of a question set, used by every evaluation (retrieval, answers,
refusal): within each kind, ids ordered by a hash alternate between the halves, so each half holds
as many questions of each kind (a plain hash split can leave 2 of 12 unanswerable ones in one)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PARTS = ("tune", "holdout")


def halves(questions: Iterable[tuple[str, str]]) -> dict[str, str]:
    """`tune` or `holdout` for each (id, kind)."""
    by_kind: dict[str, list[str]] = {}
    for question_id, kind in questions:
        by_kind.setdefault(kind, []).append(question_id)
    parts: dict[str, str] = {}
    for kind in sorted(by_kind):
        ids = sorted(by_kind[kind], key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        parts.update({i: PARTS[n % 2] for n, i in enumerate(ids)})
    return parts
