from __future__ import annotations

from tests.integration.litellm_fixture import litellm
from tests.integration.prometheus_fixture import prometheus

__all__ = ["litellm", "prometheus"]
