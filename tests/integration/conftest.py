from __future__ import annotations

from tests.integration.prometheus_fixture import prometheus

__all__ = ["prometheus"]
