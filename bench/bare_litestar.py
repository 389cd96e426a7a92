"""Bare Litestar answering the server's health JSON: the floor bench/api_load.py compares with.

`python -m bench.bare_litestar PORT` serves it under uvicorn as `justmaily serve` does (one
process, no access log)."""

from __future__ import annotations

import gc
import sys

import uvicorn
from litestar import Litestar, get

from justmaily.shared.health import HealthStatus


@get("/health/live")
async def live() -> HealthStatus:
    return HealthStatus(status="ok")


def main(port: int) -> None:
    app = Litestar(route_handlers=[live], logging_config=None)
    # As `justmaily serve` does (cli.py), so the two differ only in the app.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
