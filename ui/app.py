"""Streamlit entry point: page set-up and navigation between chat, pipeline and crawled pages."""

from __future__ import annotations

import streamlit as st

from shared.settings import get_settings

settings = get_settings()
st.set_page_config(page_title=settings.app.title, page_icon=":material/shield:",
                   layout="centered", initial_sidebar_state="expanded")
st.navigation([
    st.Page("chat.py", title="Chat", icon=":material/forum:", default=True),
    st.Page("pipeline.py", title="Pipeline", icon=":material/sync:"),
    st.Page("pages.py", title="Crawled pages", icon=":material/description:"),
]).run()
