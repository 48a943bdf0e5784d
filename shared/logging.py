"""Process-wide logging: one format, level from settings (LOG_LEVEL) or the CLI's --debug."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once; later calls only change the level."""
    if level is None:
        from shared.settings import get_settings

        level = get_settings().log_level
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=numeric, format=FORMAT)
    root.setLevel(numeric)
    # third-party chatter stays at WARNING unless we debug
    for noisy in ("httpx", "httpcore", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
