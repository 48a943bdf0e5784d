"""Crawled pages: which pages the crawler holds, in which state, and why the failed ones failed."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import streamlit as st

from shared.settings import Settings, get_settings
from ui.answer import as_int
from ui.client import ServiceDown, UiClient, UiError
from ui.markup import safe_url

log = logging.getLogger(__name__)

STATES = ("new", "changed", "unchanged", "deleted", "failed")
PAGE_SIZE = 50


def state_totals(client: UiClient) -> dict[str, int]:
    """How many pages are in each state (one cheap listing per state)."""
    totals = {}
    for state in STATES:
        totals[state] = as_int(client.pages(state=state, limit=1).get("total"))
    return totals


def page_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows; every value is plain text or a checked http(s) link, never markup."""
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        fetched = item.get("fetched_at")
        fetched = fetched if isinstance(fetched, (int, float)) else None
        rows.append({
            "title": str(item.get("title") or ""),
            "url": safe_url(item.get("canonical_url") or item.get("url")),
            "state": str(item.get("state") or ""),
            "HTTP": item.get("status"),
            "fetched": datetime.fromtimestamp(fetched) if fetched else None,
            "why it failed": str(item.get("error") or ""),
        })
    return rows


def filters(totals: dict[str, int]) -> tuple[str | None, str]:
    """State filter (with counts) and a text search over URL and title."""
    options = ["all", *STATES]
    labels = {"all": f"All ({sum(totals.values()):,})",
              **{state: f"{state.capitalize()} ({totals.get(state, 0):,})" for state in STATES}}
    state = st.segmented_control("State", options, key="pages_state", default="all",
                                 format_func=labels.__getitem__)
    query = st.text_input("Search URL or title", key="pages_q", placeholder="e.g. linux")
    return (None if state in (None, "all") else state), query.strip()


def pager(total: int) -> int:
    """The offset of the page of results to show."""
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    if pages == 1:
        return 0
    number = st.number_input(f"Page (of {pages})", 1, pages, 1, key="pages_page")
    return (int(number) - 1) * PAGE_SIZE


def pages_table(rows: list[dict[str, Any]], failed_only: bool) -> None:
    """Pages as a grid (text cells, checked links); failures lead with their reason."""
    columns = {"url": st.column_config.LinkColumn("url", width="large"),
               "title": st.column_config.TextColumn("title", width="medium"),
               "why it failed": st.column_config.TextColumn("why it failed", width="large"),
               "fetched": st.column_config.DatetimeColumn("fetched", format="YYYY-MM-DD HH:mm")}
    order = ["why it failed", "HTTP", "url", "title"] if failed_only else \
        ["title", "url", "state", "HTTP", "fetched", "why it failed"]
    st.dataframe(rows, hide_index=True, width="stretch", column_config=columns,
                 column_order=order)


def failures(client: UiClient) -> None:
    """The failed pages with their reasons, when the list is not already filtered to them."""
    body = client.pages(state="failed", limit=PAGE_SIZE)
    rows = page_rows(body.get("items") or [])
    if not rows:
        return
    st.subheader(f"Failures ({as_int(body.get('total'), len(rows)):,})", anchor=False)
    st.caption("Failed pages are fetched again by the next update; the index keeps what it had.")
    pages_table(rows, failed_only=True)


def main(settings: Settings | None = None) -> None:
    """The crawled-pages page."""
    settings = settings or get_settings()
    client = UiClient(settings)
    st.set_page_config(layout="wide")  # tables of URLs need the width
    st.title("Crawled pages", anchor=False)
    st.caption("What the crawler has stored: new and changed pages are (re)indexed, unchanged ones "
               "are kept, deleted ones are removed from the index, failed ones are retried.")
    try:
        totals = state_totals(client)
        state, query = filters(totals)
        body = client.pages(state=state, q=query or None, limit=PAGE_SIZE, offset=0)
        total = as_int(body.get("total"))
        offset = pager(total)
        if offset:
            body = client.pages(state=state, q=query or None, limit=PAGE_SIZE, offset=offset)
    except ServiceDown as error:
        st.error(error.markdown(), icon=":material/cloud_off:")
        return
    except UiError as error:
        st.warning(f"The crawled-pages list is not available. {error.markdown()}",
                   icon=":material/cloud_off:")
        return
    if not total:
        st.info("No pages yet — run an update to crawl the documentation." if not any(
            totals.values()) else "No page matches.", icon=":material/search_off:")
        return
    pages_table(page_rows(body.get("items") or []), failed_only=state == "failed")
    if state != "failed" and totals.get("failed"):
        failures(client)


if __name__ == "__main__":
    main()
