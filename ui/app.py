"""Streamlit chat: streams answers from the generation service (the full UI comes with its issue)."""

from __future__ import annotations

from collections.abc import Iterator

import streamlit as st

from shared.settings import get_settings
from ui.client import ChatClient, ServiceDown

settings = get_settings()
client = ChatClient(settings)

st.set_page_config(page_title=settings.app.title, page_icon="🛡️")
st.title(settings.app.title)
st.caption("Answers about Microsoft Defender for Endpoint, from a local model.")

if "messages" not in st.session_state:
    st.session_state.messages = []
if st.sidebar.button("Clear conversation"):
    st.session_state.messages = []

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])


def tokens(question: str, done: dict) -> Iterator[str]:
    payload = {"question": question, "mode": "ft", "max_tokens": 256}
    for event, data in client.generate(payload):
        if event == "token":
            yield data["text"]
        elif event == "done":
            done.update(data)


if question := st.chat_input("Ask about Defender for Endpoint"):
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        done: dict = {}
        try:
            answer = st.write_stream(tokens(question, done))
            st.session_state.messages.append({"role": "assistant", "content": answer})
            if done:
                timings = done["timings"]
                st.caption(f"first token {timings['time_to_first_token_ms']:.0f} ms · "
                           f"{timings['tokens_per_sec']:.1f} tok/s · {done['weights']['kind']} weights")
        except ServiceDown as error:
            st.error(str(error))
