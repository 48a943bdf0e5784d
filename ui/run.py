"""Start the Streamlit UI on loopback with the configured port and log level (the Procfile's ui line)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shared.settings import get_settings

# a calm, Fluent-like light theme: Microsoft's blue for actions, white cards on a soft grey sidebar
THEME = ("--theme.base", "light", "--theme.primaryColor", "#0F6CBD",
         "--theme.secondaryBackgroundColor", "#F3F5F8", "--theme.textColor", "#1B1F24",
         "--theme.borderColor", "#DDE2E8", "--theme.showSidebarBorder", "true",
         "--theme.baseRadius", "medium")


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
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
        *THEME,
    ]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
