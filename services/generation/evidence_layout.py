"""The chosen evidence as the answer prints it: grouped by source number, in document order inside
each source, the rows of one table under one header, each linked to its section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.generation.units import Unit, row_body, row_header
from shared.schemas import EvidenceItem, SourceRef
from shared.terms import slugify


class Quoted(Protocol):
    """A chosen unit and the source it comes from (an evidence `Candidate`)."""

    source: SourceRef
    unit: Unit


def arrange(chosen: Sequence[Quoted]) -> list[EvidenceItem]:
    """Grouped by source number, in document order inside each; rows of one table merged."""
    items: list[EvidenceItem] = []
    for candidate in sorted(chosen, key=lambda c: (c.source.n, c.unit.position)):
        unit, source = candidate.unit, candidate.source
        last = items[-1] if items else None
        if (last and unit.kind == "row" and last.kind == "row" and last.n == source.n
                and row_header(unit) and last.text.startswith(row_header(unit))):
            items[-1] = last.model_copy(update={"text": f"{last.text}\n{row_body(unit)}"})
            continue
        items.append(EvidenceItem(n=source.n, kind=unit.kind, text=unit.text,
                                  url=unit_link(source, unit), language=unit.language))
    return items


def unit_link(source: SourceRef, unit: Unit) -> str:
    """The source's url#anchor, or the anchor of the sub-heading the unit sits under when the
    passage holds several sections."""
    anchor = slugify(unit.heading) if unit.heading else ""
    if anchor and anchor in source.anchors:
        return f"{source.url.split('#')[0]}#{anchor}"
    return source.url
