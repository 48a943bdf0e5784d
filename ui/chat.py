"""Chat page: answers streamed token by token, numbered sources under each, timings, the knobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import streamlit as st

from shared.settings import Settings, get_settings
from ui import sidebar
from ui.answer import Answer, Evidence, Source, as_int, evidence_from, sources_from, timings_caption
from ui.client import ServiceProblem, UiClient, UiError
from ui.markup import AnswerEscaper, escape_answer, escape_md, md_link

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 6  # previous user/assistant messages sent along (the service bounds by tokens)
EXAMPLES = ("How do I onboard a Linux server to Defender for Endpoint?",
            "What does attack surface reduction do?",
            "How do I check the health of mdatp on macOS?")
EMPTY_INDEX = "The index is empty — run an update."
AVATARS = {"user": ":material/person:", "assistant": ":material/shield:"}


def friendly(error: UiError) -> str:
    """The message a user sees for a failed answer (escaped: details come from the services)."""
    if not isinstance(error, ServiceProblem):
        return error.markdown()
    detail = escape_md(error.detail)
    if error.code == "index_empty" or (error.status == 409 and "empty" in error.detail.lower()):
        return EMPTY_INDEX
    if error.status == 503 and error.code == "busy":
        wait = f" Try again in {error.retry_after} s." if error.retry_after else ""
        return f"The generation service is busy: {detail}.{wait}"
    if error.status == 503:
        return f"The generation service is not ready: {detail}"
    if error.status in (400, 422):
        return f"The question was not accepted: {detail}"
    return error.markdown()


def render_sources(sources: list[Source], heading: str, cited: set[int]) -> None:
    """Numbered like the citations: link to url#anchor, heading path, and the passage on demand."""
    with st.container(border=True):
        st.markdown(f"**{heading}**")
        for source in sources:
            line = f"**\\[{source.number}\\]** {md_link(source.title, source.link)}"
            if source.heading:
                line += f" · {escape_md(source.heading)}"
            if source.score is not None:
                line += f" · :gray[score {source.score:.2f}]"
            if source.number in cited:
                line += " :blue-badge[cited]"
            st.markdown(line)
            if source.text:
                with st.expander(f"Passage \\[{source.number}\\]"):
                    st.text(source.text)


def render_evidence(evidence: list[Evidence]) -> None:
    """The documented units, verbatim: prose quoted, code with a copy button, each linked to its
    section. Crawled text is untrusted: escaped, never rendered as HTML."""
    if not evidence:
        return
    st.markdown("**From the documentation**")
    for item in evidence:
        cite = md_link(f"[{item.number}]", item.url)
        if item.kind == "code":
            st.code(item.text, language=item.language or None)
            st.caption(cite)
        elif item.kind == "row":
            st.code(item.text, language=None, wrap_lines=True)
            st.caption(cite)
        else:
            lines = "  \n".join(escape_md(line) for line in item.text.splitlines())
            st.markdown(f"> {lines} {cite}")


def vote(client: UiClient, answer: Answer) -> None:
    """Thumbs up or down on an answer, stored by the generation service."""
    if not answer.answer_id:
        return
    key = f"vote-{answer.answer_id}"

    def send() -> None:
        choice = st.session_state.get(key)
        if choice is None:
            return
        try:
            client.feedback(answer.answer_id, "up" if choice == 1 else "down")
        except UiError as error:
            st.toast(f"Feedback not stored: {error}", icon=":material/error:")

    st.feedback("thumbs", key=key, on_change=send)


def render_extras(answer: Answer) -> None:
    """Everything under an answer's text: refusal, empty index, sources, timings, error."""
    if answer.refused:
        reason = answer.done.get("refusal_reason")
        st.warning("**Not covered by the documentation.** These are the nearest pages."
                   + (f"  \n:small[{escape_md(str(reason))}]" if reason else ""),
                   icon=":material/help:")
    if answer.index_empty:
        st.info(EMPTY_INDEX, icon=":material/inventory_2:")
        st.page_link("pipeline.py", label="Run an update", icon=":material/sync:")
    if answer.sources:
        render_sources(answer.sources, "Nearest pages" if answer.refused else "Sources",
                       answer.cited)
    if answer.done and (caption := timings_caption(answer.done)):
        st.caption(f":material/timer: {escape_md(caption)}")
    if answer.error:
        st.error(answer.error, icon=":material/cloud_off:")
        if answer.error == EMPTY_INDEX:
            st.page_link("pipeline.py", label="Run an update", icon=":material/sync:")


def render_history(messages: list[dict[str, Any]], client: UiClient | None = None) -> None:
    """The conversation so far, each answer with its sources and timings."""
    for message in messages:
        with st.chat_message(message["role"], avatar=AVATARS[message["role"]]):
            if message["role"] == "user":
                st.markdown(escape_md(message["content"]))
                continue
            answer: Answer = message["answer"]
            if answer.text:
                st.markdown(escape_answer(answer.text))
            render_evidence(answer.evidence)
            render_extras(answer)
            if client is not None:
                vote(client, answer)


def tokens(client: UiClient, payload: dict[str, Any], answer: Answer,
           evidence_area: Any = None) -> Iterator[str]:
    """Escaped text pieces for st.write_stream; sources, evidence and done land in `answer` (the
    evidence is drawn in `evidence_area` as soon as it arrives, before the model writes)."""
    escaper = AnswerEscaper()
    for event, data in client.generate(payload):
        if event == "sources":
            answer.sources = sources_from(data)
            answer.index_empty = bool(data.get("index_empty"))
        elif event == "evidence":
            answer.evidence = evidence_from(data)
            if evidence_area is not None:
                with evidence_area:
                    render_evidence(answer.evidence)
            yield ""  # ends the spinner: the documented answer is on screen
        elif event == "token":
            text = str(data.get("text", ""))
            answer.text += text
            yield escaper.feed(text)
        elif event == "done":
            answer.done = data
            answer.index_empty = answer.index_empty or bool(data.get("index_empty"))
        elif event == "error":
            detail = str(data.get("detail") or data.get("text") or "the answer stopped")
            raise ServiceProblem("generation", as_int(data.get("status"), 500), detail,
                                 str(data.get("code") or ""))
    yield escaper.flush()


def history_for(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The last few turns that got an answer, as ChatTurn dicts."""
    turns = []
    for message in messages:
        if message["role"] == "user":
            turns.append({"role": "user", "content": message["content"]})
        elif message["answer"].text and not message["answer"].error:
            turns.append({"role": "assistant", "content": message["answer"].text})
        elif turns:
            turns.pop()  # a question without an answer is not history
    return turns[-HISTORY_MESSAGES:]


def ask(client: UiClient, question: str, knobs: sidebar.Knobs) -> None:
    """Send a question, stream its answer, and keep both in the conversation."""
    messages: list[dict[str, Any]] = st.session_state["messages"]
    payload: dict[str, Any] = {"question": question, "mode": knobs.mode,
                               "history": history_for(messages), "max_tokens": knobs.max_tokens,
                               "temperature": knobs.temperature}
    if knobs.mode != "ft":
        payload["top_k"] = knobs.top_k
    st.session_state["last_request"] = payload
    messages.append({"role": "user", "content": question})
    with st.chat_message("user", avatar=AVATARS["user"]):
        st.markdown(escape_md(question))
    answer = Answer()
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        lead_area, evidence_area = st.container(), st.container()
        try:
            with st.spinner("Thinking…" if knobs.mode == "ft" else "Searching the docs…"):
                stream = tokens(client, payload, answer, evidence_area)
                first = next(stream, "")  # the spinner covers retrieval (and evidence)
            with lead_area:
                st.write_stream(_chain(first, stream))
        except UiError as error:
            log.info("question failed: %s", error)
            answer.error = friendly(error)
        render_extras(answer)
        vote(client, answer)
    messages.append({"role": "assistant", "answer": answer})


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _take_example() -> None:
    st.session_state["picked"], st.session_state["example"] = st.session_state["example"], None


def welcome() -> None:
    """An empty conversation shows what it is for and a few questions to click."""
    st.markdown("Ask about **Microsoft Defender for Endpoint**. Answers come from a local model "
                "and cite the documentation pages they are drawn from.")
    st.pills("Try", EXAMPLES, key="example", label_visibility="collapsed", on_change=_take_example)


def main(settings: Settings | None = None) -> None:
    """The chat page."""
    settings = settings or get_settings()
    client = UiClient(settings)
    knobs = sidebar.render(client, settings)
    st.title(settings.app.title, anchor=False)
    messages = st.session_state.setdefault("messages", [])
    question = st.chat_input("Ask about Defender for Endpoint…") or st.session_state.pop(
        "picked", None)  # the input is pinned to the bottom wherever it is called
    if knobs.index_empty and knobs.mode != "ft":
        st.info(EMPTY_INDEX, icon=":material/inventory_2:")
    if not messages and not question:
        welcome()
    render_history(messages, client)
    if question:
        ask(client, question, knobs)


if __name__ == "__main__":
    main()
