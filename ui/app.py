"""Streamlit entry point: page set-up and navigation between chat, pipeline and crawled pages."""

from __future__ import annotations

import logging

import streamlit as st

from shared.settings import get_settings

log = logging.getLogger("ui.app")
settings = get_settings()
st.set_page_config(page_title=settings.app.title, page_icon=":material/shield:",
                   layout="centered", initial_sidebar_state="expanded")
navigation = st.navigation([
    st.Page("chat.py", title="Chat", icon=":material/forum:", default=True),
    st.Page("pipeline.py", title="Pipeline", icon=":material/sync:"),
    st.Page("pages.py", title="Crawled pages", icon=":material/description:"),
])
try:
    navigation.run()
except Exception:  # the last line of defence: a message and a log line, never a traceback
    log.exception("the %s page failed", navigation.title)
    st.error("Something went wrong on this page; the UI's log says what. Reload to try again.",
             icon=":material/error:")
