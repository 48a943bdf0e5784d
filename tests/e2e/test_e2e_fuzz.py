"""Scenario 5: schemathesis against every service's OpenAPI schema on a booted stack (bounded
examples): no 500, no status the schema does not document, no hang."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import SERVICES
from tests.e2e.e2e_kit import E2E, boot

pytestmark = pytest.mark.slow
TOKEN = "fuzz-token"


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
         "--checks", "not_a_server_error,status_code_conformance",
         "--max-examples", "8", "--request-timeout", "120", "--max-response-time", "120",
         "-H", f"Authorization: Bearer {TOKEN}", "--suppress-health-check", "all",
         "--phases", "examples,coverage,fuzzing"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    tracebacks = [line for line in e2e.stack.log().splitlines() if "Error" in line][-20:]
    report = result.stdout[-6000:] + result.stderr[-2000:] + "\n".join(tracebacks)
    assert result.returncode == 0, report
