"""How an update's stages are summarised: fraction done, counts worth showing, the bar's label."""

from __future__ import annotations

from ui.stages import fraction, stage_counts, stage_label


def test_fraction() -> None:
    assert fraction({"state": "finished"}) == 1.0
    assert fraction({"state": "skipped", "progress": {"done": 0, "total": 9}}) == 1.0
    assert fraction({"state": "started", "progress": {"done": 3, "total": 12}}) == 0.25
    assert fraction({"state": "started", "progress": {"done": 30, "total": 12}}) == 1.0
    assert fraction({"state": "started", "progress": {"done": "x", "total": None}}) == 0.0
    assert fraction({"state": "queued"}) == 0.0


def test_counts_prefer_the_result_and_skip_bookkeeping() -> None:
    stage = {"result": {"crawl_id": "c1", "counts": {"new": 4, "failed": 1}, "requests": 9,
                        "duration_sec": 3.2, "complete": True, "final_job_id": "j"},
             "progress": {"counts": {"seen": 2}}}
    assert stage_counts(stage) == [("new", 4.0), ("failed", 1.0), ("requests", 9.0)]
    assert stage_counts({"progress": {"counts": {"pages_seen": 2}}}) == [("pages_seen", 2.0)]
    assert stage_counts({"result": None, "progress": None}) == []


def test_label_while_running_and_when_failed() -> None:
    running = {"name": "crawl", "state": "started", "started_at": 100.0, "ended_at": 104.5,
               "progress": {"done": 34, "total": 120, "message": "fetching <b>x</b>"}}
    label = stage_label(running)
    assert label.startswith("**Crawl**") and "34 / 120" in label and "4.5 s" in label
    assert r"fetching \<b\>x\</b\>" in label
    failed = stage_label({"name": "custom_stage", "state": "failed"})
    assert "custom\\_stage" in failed and "failed" in failed
