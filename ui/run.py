"""Start the Streamlit UI on loopback with the configured port and log level (the Procfile's ui line)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shared.settings import get_settings


def main() -> None:
    settings = get_settings()
    app = Path(__file__).with_name("app.py")
    args = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", settings.bind_host,
        "--server.port", str(settings.ui_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--logger.level", settings.log_level.lower(),
    ]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
