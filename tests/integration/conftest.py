"""Fixtures shared by integration modules (imported here so pytest registers them)."""

from tests.integration.gateway_kit import make_pipeline  # noqa: F401 - a fixture
