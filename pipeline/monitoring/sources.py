"""Pick the monitoring source for one priority: its own override, else the project's."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipeline.errors import InputError
from pipeline.model.priority import Monitoring
from pipeline.model.project import ProjectSpec
from pipeline.monitoring.base import MonitoringSource
from pipeline.monitoring.prometheus import effective_settings, prometheus_source

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx


def source_for(root: str, project: ProjectSpec, monitoring: Monitoring,
               client: httpx.Client) -> MonitoringSource:
    """The configured source; InputError naming the missing setting when there is none."""
    from pipeline.monitoring.file import JsonlMonitoring

    settings = project.monitoring
    provider = monitoring.provider or settings.provider
    if provider == "prometheus":
        prometheus = effective_settings(settings, monitoring)
        if prometheus is None:
            raise InputError("spec.monitoring.prometheus.url: the prometheus provider needs "
                             "a URL", path="ailoop.yaml")
        return prometheus_source(prometheus, client, max_staleness=settings.max_staleness)
    rel = monitoring.file or (settings.file.path if settings.file else None)
    if rel is None:
        raise InputError("spec.monitoring.file.path: the file provider needs a path",
                         path="ailoop.yaml")
    return JsonlMonitoring(os.path.join(root, rel), settings.max_staleness)
