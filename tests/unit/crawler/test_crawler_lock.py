"""The crawl lock without Redis: a file lock under DATA_DIR refuses a second crawl clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.crawler.lock import CrawlLock
from shared.errors import Conflict
from shared.settings import Settings


def test_file_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with CrawlLock(settings, None):
        assert CrawlLock(settings, None).holder() is not None
        with pytest.raises(Conflict, match="a crawl is already running on this data folder"):
            CrawlLock(settings, None).acquire()
    assert CrawlLock(settings, None).holder() is None
    with CrawlLock(settings, None):  # free again after release
        pass
    assert (tmp_path / "locks" / "crawl.lock").parent.is_dir()
