"""The whole stack as users run it, pointed at a small docsite slice served from a copy a test may
edit: `boot(tmp, **env)` starts both and waits for the bootstrap update to finish."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import SHARED, Docsite, start_docsite
from tests.stack import Stack

SITE_PAGES = 20
QUESTION = "How do I add an antivirus exclusion on Linux?"


@dataclass
class E2E:
    stack: Stack
    site: Docsite
    site_root: Path
    site_edited: bool = False  # the site changed since the last update that finished every stage

    def gateway(self, path: str) -> str:
        return f"{self.stack.url('gateway')}{path}"

    def update(self, force: bool = True, **body: object) -> httpx.Response:
        # the gateway takes either token (the internal one once it is required)
        env = self.stack.extra_env
        token = env.get("UPDATE_TOKEN") or env.get("INTERNAL_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.gateway("/update"), params={"force": str(force).lower()},
                          json=body or None, headers=headers, timeout=30)

    def chunks(self) -> dict[str, dict]:
        """Every stored chunk by id, paged through the retrieval service."""
        found: dict[str, dict] = {}
        offset: str | None = None
        while True:
            params = {"limit": 500, **({"offset": offset} if offset else {})}
            body = httpx.get(f"{self.stack.url('retrieval')}/chunks", params=params, timeout=30).json()
            found.update({chunk["id"]: chunk for chunk in body["items"]})
            offset = body.get("next_offset")
            if not offset:
                return found

    def wait_update(self, update_id: str | None = None, timeout: float = 900.0) -> dict:
        """Wait for an update (the newest one by default) to finish or fail."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            try:
                if update_id is None:
                    items = httpx.get(self.gateway("/updates"), timeout=10).json()["items"]
                    body = items[0] if items else {}
                else:
                    body = httpx.get(self.gateway(f"/update/{update_id}"), timeout=10).json()
            except (httpx.HTTPError, ValueError, KeyError):
                body = {}
            if body.get("status") in ("finished", "failed"):
                return body
            time.sleep(1.0)
        raise TimeoutError(f"update not done after {timeout}s: {body}\n{self.stack.log()[-4000:]}")

    def in_sync(self) -> dict:
        """Wait until no update runs and the index and adapter match the site (running an update
        first when a test edited the site since); returns the newest finished update."""
        newest = self.wait_update()
        if self.site_edited:
            newest = self.wait_update(self.update().json()["update_id"])
            assert newest["status"] == "finished", newest
            self.site_edited = False
        return newest

    def stage(self, update: dict, name: str) -> dict:
        return next(stage for stage in update["stages"] if stage["name"] == name)

    def ask(self, question: str = QUESTION, mode: str = "rag", max_tokens: int = 24) -> dict:
        response = httpx.post(self.gateway("/ask"), headers={"Accept": "application/json"},
                              json={"question": question, "mode": mode, "max_tokens": max_tokens,
                                    "temperature": 0}, timeout=180)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.stack.stop()
        self.site.stop()


def copy_site(target: Path) -> Path:
    shutil.copytree(SHARED / "site", target)
    return target


def boot(tmp: Path, *site_args: str, bootstrap: bool = True, **env: str) -> E2E:
    """Docsite (own copy, first SITE_PAGES articles) + the stack crawling it, with the tiny
    fine-tune config; with bootstrap the first update runs at start."""
    root = copy_site(tmp / "site")
    site = start_docsite(tmp / "docsite.log", "--root", str(root), "--limit", str(SITE_PAGES),
                         *site_args)
    stack_env = {
        "CRAWL__BASE_URL": site.base_url, "CRAWL__ALLOWED_DOMAIN": site.domain,
        "CRAWL__SLEEP_BETWEEN_REQUESTS_SEC": "0", "MDE_CONFIG": str(Path("configs/finetune-ci.yaml").resolve()),
        "UPDATE__BOOTSTRAP": str(bootstrap).lower(), "UPDATE__MONITOR_INTERVAL_SEC": "1",
        "UPDATE__RETRY_INTERVALS_SEC": "[2, 5]", "WORKER__HEARTBEAT_INTERVAL_SEC": "5",
        "WORKER__MAINTENANCE_INTERVAL_SEC": "5", "INFER__MAX_NEW_TOKENS": "24", **env}
    stack = Stack(tmp / "stack", env=stack_env)
    stack.root.mkdir(parents=True, exist_ok=True)
    try:
        stack.start()
    except Exception:
        site.stop()
        raise
    return E2E(stack, site, root)


@dataclass
class BackgroundAsker:
    """Asks questions through the gateway in a loop and records every status it saw; a 503 with
    Retry-After counts as fine when the retry after it succeeds."""

    e2e: E2E
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                response = httpx.post(self.e2e.gateway("/ask"), headers={"Accept": "application/json"},
                                      json={"question": QUESTION, "max_tokens": 8}, timeout=120)
                self.statuses.append(response.status_code)
                if response.status_code == 503:
                    time.sleep(float(response.headers.get("Retry-After", "2")))
            except httpx.HTTPError as error:
                self.errors.append(f"{type(error).__name__}: {error}")
            self.stop_event.wait(0.5)

    def __enter__(self) -> "BackgroundAsker":
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_event.set()
        self.thread.join(150)

    def bad(self) -> list[int]:
        """Statuses a user must never see: any 5xx but a 503, which asks to retry."""
        return [status for status in self.statuses if status >= 500 and status != 503]
