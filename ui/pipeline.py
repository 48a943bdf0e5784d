"""Pipeline page: the index, Update now, the current or last update live, services and queues."""

from __future__ import annotations

import logging
import time
from typing import Any

import streamlit as st

from shared.settings import Settings, get_settings
from ui.answer import ago, as_dict, as_int, duration
from ui.client import ServiceDown, UiClient, UiError, UpdateOutcome
from ui.markup import escape_md
from ui.sidebar import fetch
from ui.stages import render_update, updates_table

log = logging.getLogger(__name__)

REFRESH_SEC = 2.0
ACTIVE = ("queued", "running")


def card(column: Any, label: str, value: str, **options: Any) -> None:
    """One bordered figure; the row's cards share a height."""
    column.metric(label, value, border=True, height="stretch", **options)


def index_metrics(client: UiClient, settings: Settings, last: dict[str, Any] | None,
                  scheduler: dict[str, Any]) -> None:
    """Index size, its last change, the last update's outcome and when the next one is due."""
    collection, error = fetch("collection", client, settings.retrieval_url)
    last = as_dict(last)
    left, middle, right, far = st.columns(4)
    card(left, "Passages indexed", "—" if error else f"{as_int(collection.get('points')):,}")
    card(middle, "Index updated", "—" if error else
         ago(collection.get("updated_at") or collection.get("created_at")))
    card(right, "Last update", str(last.get("status", "none yet")), delta_color="off",
         delta=f"started {ago(last['created_at'])}" if last.get("created_at") else None,
         delta_arrow="off")
    card(far, "Next scheduled", next_due(scheduler),
         help="Updates run on a schedule once the first one has finished.")
    if error:
        st.caption(error)
    elif collection.get("empty") or not as_int(collection.get("points")):
        st.info("The index is empty — run an update.", icon=":material/inventory_2:")


def next_due(scheduler: dict[str, Any]) -> str:
    """`in 5 h`, `due now`, `off`, or `—` before the first update."""
    if not scheduler.get("enabled", True):
        return "off"
    due = scheduler.get("next_due_at")
    if not isinstance(due, (int, float)):
        return "—"
    left = due - time.time()
    return f"in {duration(left)}" if left > 0 else "due now"


def show_outcome(outcome: UpdateOutcome) -> None:
    """202 / 429 / 401 said plainly."""
    if outcome.status == 202:
        st.success(f"**202 Accepted** — update `{escape_md(outcome.update_id)}` started.",
                   icon=":material/check_circle:")
    elif outcome.status == 429:
        wait = f" Try again in {duration(float(outcome.retry_after))}." if outcome.retry_after \
            else ""
        st.warning(f"**429 Too Many Requests** — not started: {escape_md(outcome.detail)}.{wait}",
                   icon=":material/schedule:")
    elif outcome.status == 401:
        st.error("**401 Unauthorized** — this gateway needs its update token (UPDATE_TOKEN).",
                 icon=":material/lock:")


def request_update(client: UiClient, force: bool) -> None:
    """POST /update with the token when one was given, then redraw the page with the outcome."""
    token = str(st.session_state.get("update_token") or "")
    try:
        outcome = client.start_update(token=token, force=force)
    except UiError as error:
        st.session_state["update_error"] = error.markdown()
        return
    st.session_state["update_outcome"] = outcome
    if outcome.status == 401:
        st.session_state["needs_token"] = True
    if outcome.status == 202:
        st.session_state["watch_update"] = outcome.update_id
    st.rerun()  # the figures, the token prompt and the live panel follow the outcome


def update_controls(client: UiClient) -> None:
    """Update now, the force switch, and the token prompt when one is required."""
    button, force_col = st.columns([1, 2], vertical_alignment="center")
    force = force_col.toggle("Ignore the minimum interval", key="update_force",
                             help="Adds ?force=true: a running update still blocks a new one.")
    if st.session_state.get("needs_token"):
        st.text_input("Update token", type="password", key="update_token",
                      placeholder="UPDATE_TOKEN", help="Sent as Authorization: Bearer <token>.")
    if button.button("Update now", type="primary", icon=":material/sync:",
                     width="stretch"):
        st.session_state.pop("update_error", None)
        request_update(client, force)
    if error := st.session_state.get("update_error"):
        st.error(error, icon=":material/cloud_off:")
    if outcome := st.session_state.get("update_outcome"):
        show_outcome(outcome)


def current_update(client: UiClient) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The update to show (the one just started, else the newest) and the scheduler state."""
    recent = client.updates(limit=10)
    items = [item for item in recent.get("items") or [] if isinstance(item, dict)]
    watched = st.session_state.get("watch_update")
    if watched and not any(item.get("id") == watched for item in items):
        items.insert(0, client.update(watched))
    st.session_state["recent_updates"] = items
    return (items[0] if items else None), as_dict(recent.get("scheduler"))


def live_update(client: UiClient, was_active: bool) -> None:
    """Re-read and redraw the update every REFRESH_SEC while it runs; a full rerun at the end."""
    try:
        last, _ = current_update(client)
    except UiError as error:
        st.warning(error.markdown())
        return
    if last is None:
        st.caption("No update has run yet. **Update now** starts the first one.")
        return
    render_update(last)
    with st.expander("Recent updates"):
        updates_table(st.session_state.get("recent_updates") or [])
    if was_active and last.get("status") not in ACTIVE:
        st.rerun(scope="app")  # stop polling and refresh the index figures


def services_panel(client: UiClient, settings: Settings) -> None:
    """Per-service readiness from the gateway and the queues from /jobs."""
    ready, error = fetch("ready", client, settings.gateway_url)
    if error:
        st.caption(error)
        return
    checks = as_dict(ready.get("checks"))
    rows = [{"service": name, "ready": "✅" if check.get("ok") else "❌",
             "detail": str(check.get("detail", ""))} for name, check in checks.items()
            if isinstance(check, dict)]
    st.dataframe(rows, hide_index=True, width="stretch")
    jobs, jobs_error = fetch("jobs", client, settings.gateway_url)
    queues = as_dict(jobs.get("queues")) if not jobs_error else {}
    if queues:
        st.dataframe([{"queue": name, "queued": q.get("queued"), "running": q.get("started"),
                       "failed": q.get("failed"), "workers": len(q.get("workers") or [])}
                      for name, q in queues.items() if isinstance(q, dict)],
                     hide_index=True, width="stretch")


def main(settings: Settings | None = None) -> None:
    """The pipeline page."""
    settings = settings or get_settings()
    client = UiClient(settings)
    st.title("Pipeline", anchor=False)
    st.caption("crawl → index → prepare dataset → fine-tune: what the assistant knows, and when "
               "it learned it.")
    try:
        last, scheduler = current_update(client)
    except ServiceDown as error:  # updates need the gateway; the index figures do not
        st.error(error.markdown(), icon=":material/cloud_off:")
        index_metrics(client, settings, None, {})
        return
    except UiError as error:
        st.warning(error.markdown())
        last, scheduler = None, {}
    index_metrics(client, settings, last, scheduler)
    update_controls(client)
    active = bool(last and last.get("status") in ACTIVE)
    st.subheader("Current update" if active else "Last update", anchor=False)
    st.fragment(live_update, run_every=REFRESH_SEC if active else None)(client, active)
    st.page_link("pages.py", label="Crawled pages: what is indexed, what failed and why",
                 icon=":material/description:")
    with st.expander("Services and queues"):
        services_panel(client, settings)


if __name__ == "__main__":
    main()
