"""Scenario 5: schemathesis against every service's OpenAPI schema on a booted stack (bounded
examples): no 500, no status the schema does not document, no hang.

A 502/503 (an upstream busy or timing out under the fuzzing load, with Retry-After) is allowed; a
500 is not: every access-log line and unhandled exception of the stack is checked for it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import SERVICES
from tests.e2e.e2e_kit import E2E, boot

pytestmark = pytest.mark.slow
TOKEN = "fuzz-token"
SERVER_ERROR = re.compile(r'" 500\b|Exception in ASGI application')


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    # generations are capped hard so fuzzed max_tokens cannot make a request run for minutes
    e2e = boot(tmp_path_factory.mktemp("fuzz"), bootstrap=False, INTERNAL_TOKEN=TOKEN,
               INFER__MAX_TOKENS_CAP="8", INFER__MAX_NEW_TOKENS="8")
    yield e2e
    e2e.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_schema_fuzzing_finds_no_server_error(e2e: E2E, service: str, tmp_path: Path) -> None:
    schema = f"{e2e.stack.url(service)}/openapi.json"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", schema,
         "--checks", "status_code_conformance",
         "--max-examples", "8", "--request-timeout", "120", "--max-response-time", "120",
         "-H", f"Authorization: Bearer {TOKEN}", "--suppress-health-check", "all",
         "--phases", "examples,coverage,fuzzing"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    errors = [line for line in e2e.stack.log().splitlines()
              if SERVER_ERROR.search(line) and f"{service}_api" in line]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert errors == [], "\n".join(errors[-20:])
