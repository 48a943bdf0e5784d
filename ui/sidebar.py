"""The chat page's sidebar: mode, retrieval and sampling knobs, the model in use, the index."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import streamlit as st

from shared.settings import Settings
from ui.answer import ago, as_dict, as_int, weights_label
from ui.client import UiClient, UiError
from ui.markup import escape_md

log = logging.getLogger(__name__)

MODES = ("rag", "ft", "rag_ft")
MODE_LABELS = {"rag": "RAG", "ft": "Fine-tuned", "rag_ft": "RAG + FT"}
MODE_HELP = ("**RAG**: the base model answers from retrieved passages and cites them. "
             "**Fine-tuned**: the LoRA adapter answers from what it learned, no retrieval. "
             "**RAG + fine-tuned**: the adapter with retrieved passages.")
CACHE_TTL_SEC = 10


@dataclass
class Knobs:
    """What the user chose in the sidebar; becomes the /generate request."""

    mode: str
    top_k: int
    max_tokens: int
    temperature: float
    index_empty: bool = False  # the retrieval service says nothing is indexed yet


@st.cache_data(ttl=CACHE_TTL_SEC, show_spinner=False)
def fetch(what: str, _client: UiClient, url: str) -> tuple[dict[str, Any], str | None]:
    """A cached GET (`model`, `collection`, `ready`, ...): (body, None) or ({}, friendly error)."""
    try:
        return getattr(_client, what)(), None
    except UiError as error:
        log.info("%s at %s: %s", what, url, error)
        return {}, error.markdown()


def service_default_mode(model: dict[str, Any], settings: Settings) -> str:
    """The mode the generation service says is its default (else the configured one)."""
    for key in ("default_mode", "default"):
        if model.get(key) in MODES:
            return str(model[key])
    return settings.app.mode


def mode_selector(model: dict[str, Any], settings: Settings) -> str:
    """Radio over the modes; follows the service's default until the user picks one."""
    default = service_default_mode(model, settings)
    state = st.session_state
    if state.get("mode") is None or state.get("mode") == state.get("mode_default") != default:
        state["mode"] = default
    state["mode_default"] = default
    chosen = st.segmented_control("Mode", MODES, key="mode", help=MODE_HELP,
                                  format_func=MODE_LABELS.__getitem__)
    return str(chosen or default)  # clicking the selected mode again unselects it


def knobs(model: dict[str, Any], settings: Settings) -> Knobs:
    """The mode selector and the retrieval and sampling sliders."""
    mode = mode_selector(model, settings)
    infer = settings.infer
    top_k = st.slider("Passages retrieved (top_k)", 1, 20, min(infer.top_k, 20), key="top_k",
                      disabled=mode == "ft", help="How many passages are put in the prompt.")
    cap = max(min(infer.max_tokens_cap, 2048), 16)
    max_tokens = st.slider("Max answer tokens", 16, cap, min(infer.max_new_tokens, cap), step=16,
                           key="max_tokens", help="Longer answers take longer to stream.")
    temperature = st.slider("Temperature", 0.0, 1.5, float(infer.temperature), step=0.05,
                            key="temperature", help="0 always picks the likeliest token.")
    return Knobs(mode, int(top_k), int(max_tokens), float(temperature))


def model_panel(model: dict[str, Any], error: str | None, mode: str) -> None:
    """Which weights answer the chosen mode, when they were loaded, and their metrics."""
    st.markdown("**Model**")
    if error:
        st.caption(error)
        return
    weights = as_dict(model.get(mode))
    label = weights_label(weights) or "unknown weights"
    path = str(weights.get("path") or "").rstrip("/").rsplit("/", 1)[-1]
    st.caption(f"{escape_md(MODE_LABELS[mode])} → **{escape_md(label)}**"
               + (f" · {escape_md(path)}" if path else "")
               + (f" · loaded {ago(weights.get('loaded_at'))}" if weights.get("loaded_at") else ""))
    if metrics := as_dict(weights.get("metrics")):
        st.caption(" · ".join(f"{escape_md(str(key))} {format_metric(value)}"
                              for key, value in list(metrics.items())[:8]))


def format_metric(value: Any) -> str:
    """A metric value, three significant digits for floats."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return escape_md(str(value))


def index_panel(collection: dict[str, Any], error: str | None) -> None:
    """Index size and last update, with a link to the pipeline page."""
    st.markdown("**Index**")
    if error:
        st.caption(error)
    elif collection.get("empty") or not as_int(collection.get("points")):
        st.caption("The index is empty — run an update.")
    else:
        st.caption(f"{as_int(collection['points']):,} passages · updated "
                   f"{ago(collection.get('updated_at') or collection.get('created_at'))}")
    st.page_link("pipeline.py", label="Pipeline and updates", icon=":material/sync:")


def render(client: UiClient, settings: Settings) -> Knobs:
    """The whole sidebar; returns the knobs for the next question."""
    with st.sidebar:
        model, model_error = fetch("model", client, settings.generation_url)
        chosen = knobs(model, settings)
        if st.button("Clear conversation", icon=":material/delete_sweep:",
                     width="stretch"):
            st.session_state["messages"] = []
        st.divider()
        model_panel(model, model_error, chosen.mode)
        collection, collection_error = fetch("collection", client, settings.retrieval_url)
        index_panel(collection, collection_error)
    chosen.index_empty = not collection_error and bool(collection.get("empty")
                                                       or not as_int(collection.get("points")))
    return chosen
