"""Monitoring sources: production readings that gate each rollout stage."""

from __future__ import annotations

from pipeline.monitoring.base import GateReading, MonitoringSource

__all__ = ["GateReading", "MonitoringSource"]
