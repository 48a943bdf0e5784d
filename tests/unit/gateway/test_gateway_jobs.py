"""The stage job's lookup of its function: a stage that cannot be found is an error."""

from __future__ import annotations

import pytest

from services.gateway.jobs import StageNotFound, stage_function
from shared.settings import Settings


@pytest.mark.parametrize("path", ["services.crawlr.jobs.crawl_site",       # fault: module typo
                                  "services.crawler.jobs.crawl_sight",     # fault: function typo
                                  "crawl_site"])                           # fault: no module
def test_a_stage_that_cannot_be_imported_fails_naming_it(path: str) -> None:
    """Fault: before, a missing module made the stage `skipped ... not installed` and the update
    finished as if it had run (settings now refuse a missing module; this is the second wall)."""
    settings = Settings()
    settings.update.stage_functions = {**settings.update.stage_functions, "crawl": path}
    with pytest.raises(StageNotFound, match=f"update.stage_functions.crawl = '{path}'"):
        stage_function(settings, "crawl")


def test_the_default_stages_resolve() -> None:
    settings = Settings()
    for stage in settings.update.stage_functions:
        assert callable(stage_function(settings, stage))
