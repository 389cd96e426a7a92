"""`/metrics` output, for one process or summed over the workers of one machine.

prometheus-client's multi-process mode keeps each worker's values in memory-mapped files in one
folder; a scrape of any worker sums them. The folder must be named before prometheus-client is
first imported (it picks how values are kept then), so the supervisor calls `prepare_workers`
before it imports the app, and `worker_exited` when a worker dies (its live gauges go).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # prometheus-client is imported late: see the module's docstring
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def prepare_workers() -> Path:
    """A fresh folder for the values of this machine's workers; removed by `finish_workers`."""
    if "prometheus_client" in sys.modules and _FOLDER_VARIABLE not in os.environ:
        raise RuntimeError("prometheus_client was imported before the workers' metrics folder was named")
    folder = Path(tempfile.mkdtemp(prefix="justmaily-metrics-"))
    os.environ[_FOLDER_VARIABLE] = str(folder)
    return folder


def finish_workers(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.environ.pop(_FOLDER_VARIABLE, None)


def worker_exited(pid: int) -> None:
    if _FOLDER_VARIABLE in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def render() -> bytes:
    """The text exposition of every instrument: this process's, or every worker's summed."""
    from prometheus_client import generate_latest

    return generate_latest(_registry())


def collect() -> Iterator[Metric]:
    """What `render` writes, as prometheus-client's metric families (for the server's own views)."""
    return iter(_registry().collect())


def _registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if _FOLDER_VARIABLE not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
