"""Desktop benchmarks, offscreen, against one demo server process on loopback:

- keystroke-to-remote-render: a key typed into one window's body until the other window's body
  shows it (two desktop clients signed in as different people, in one process, one Qt loop);
- start-up to an editable window: a fresh process that resumes the remembered account and opens a
  campaign (from the local store, so it does not wait for the network), median of several runs;
- memory with 20 campaigns open in one window (RSS of that process).

`python3 bootstrap.py bench desktop`; BENCH_KEYS (default 300), BENCH_STARTS (5), BENCH_OPEN (20).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import anyio
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from bench.procs import rss_kib
from bench.report import save
from bench.rooms import start, summary
from justmaily.desktop.engine.account import Account, Paths
from justmaily.desktop.engine.credentials import Credentials, FileSecrets
from justmaily.desktop.engine.room_client import SyncStatus, Timing
from justmaily.desktop.ui.main_window import MainWindow
from justmaily.desktop.ui.tasks import Tasks
from justmaily.server.settings import Settings

KEYS = int(os.environ.get("BENCH_KEYS", "300"))
STARTS = int(os.environ.get("BENCH_STARTS", "5"))
OPEN = int(os.environ.get("BENCH_OPEN", "20"))


def qt_loop() -> Any:
    import qasync

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    return qasync.QEventLoop(app)


def paths_in(home: Path) -> Paths:
    return Paths(home / "config", home / "data")


async def sign_in(server: str, email: str, password: str, home: Path) -> Account:
    paths = paths_in(home)
    credentials = Credentials(paths.config, FileSecrets(paths.config / "tokens.json"))
    return await Account.sign_in(server, email, password, paths=paths, credentials=credentials)


async def wait_for(probe: Any, within: float = 20.0) -> Any:
    with anyio.fail_after(within):
        while not (found := probe()):  # noqa: ASYNC110 - UI state has no event to await
            await anyio.sleep(0.005)
        return found


async def keystrokes(server: str, password: str, homes: Path) -> dict[str, Any]:
    ada = await sign_in(server, "editor@demo.example.com", password, homes / "ada")
    grace = await sign_in(server, "owner@demo.example.com", password, homes / "grace")
    campaign = await ada.create("Keystroke benchmark")
    latencies: list[float] = []
    async with anyio.create_task_group() as group:
        tasks = Tasks(group, print)
        windows = [MainWindow(ada, tasks), MainWindow(grace, tasks)]
        editors = []
        for window in windows:
            window.show()
            window.open_campaign(campaign)
            editor = await wait_for(lambda w=window: w.editor(campaign.id))
            await wait_for(lambda e=editor: e.sync.status is SyncStatus.ONLINE)
            editors.append(editor)
        mine, theirs = editors[0].fields["body"], editors[1].fields["body"]
        seen = anyio.Event()
        expected = [0]

        def changed() -> None:
            if len(theirs.toPlainText()) >= expected[0]:
                seen.set()

        theirs.document().contentsChanged.connect(changed)
        mine.setFocus()
        for n in range(KEYS):
            seen = anyio.Event()
            expected[0] = n + 1
            started = time.perf_counter()
            QTest.keyClicks(mine, "abcdefghij"[n % 10])
            with anyio.fail_after(10):
                await seen.wait()
            theirs.viewport().repaint()  # rendered, not only applied
            latencies.append(time.perf_counter() - started)
            await anyio.sleep(0.02)
        for window in windows:
            window.close()
        group.cancel_scope.cancel()
    await ada.close()
    await grace.close()
    return {"keystroke_to_remote_render": summary(latencies)}


def startup_child(home: str, campaign_id: str, count: int) -> None:
    """Run in a fresh process: time from process start to an editable editor, and memory."""
    launched = float(os.environ["BENCH_LAUNCHED_AT"])
    loop = qt_loop()

    async def run() -> dict[str, Any]:
        paths = paths_in(Path(home))
        credentials = Credentials(paths.config, FileSecrets(paths.config / "tokens.json"))
        account = await Account.resume(paths=paths, credentials=credentials, timing=Timing())
        assert account is not None, "no remembered account"
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as group:
            window = MainWindow(account, Tasks(group, print))
            window.show()
            campaigns, _live = await account.campaigns()
            first = next(c for c in campaigns if str(c.id) == campaign_id)
            window.open_campaign(first)
            editor = await wait_for(lambda: window.editor(first.id))
            editor.repaint()  # painted, without re-entering the event loop
            result["editable_s"] = time.time() - launched
            await wait_for(lambda: editor.sync.status is SyncStatus.ONLINE)
            result["online_s"] = time.time() - launched
            if count:
                before = rss_kib(os.getpid(), children=False)
                for campaign in campaigns[:count]:
                    window.open_campaign(campaign)
                    opened = await wait_for(lambda c=campaign: window.editor(c.id))
                    await wait_for(lambda o=opened: o.sync.status is SyncStatus.ONLINE)
                result["open_campaigns"] = min(count, len(campaigns))
                result["rss_mib"] = round(rss_kib(os.getpid(), children=False) / 1024, 1)
                result["rss_one_open_mib"] = round(before / 1024, 1)
            window.close()
            group.cancel_scope.cancel()
        await account.close()
        return result

    with loop:
        print(json.dumps(loop.run_until_complete(run())))


def run_child(home: Path, campaign_id: uuid.UUID, count: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_LAUNCHED_AT": repr(time.time()), "QT_QPA_PLATFORM": "offscreen"}
    output = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.desktop", "--child", str(home), str(campaign_id), str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"the start-up run failed ({output.returncode}):\n{output.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


async def prepare(server: str, password: str, home: Path) -> uuid.UUID:
    """A remembered account with OPEN campaigns, the first one kept in the local store."""
    account = await sign_in(server, "editor@demo.example.com", password, home)
    first = None
    for n in range(OPEN):
        campaign = await account.create(f"Open me {n}")
        first = first or campaign
    assert first is not None
    await account.campaigns()
    await account.close()
    return first.id


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-desktop-") as tmp:
        workdir = Path(tmp)
        settings = Settings.of(
            database_url=f"sqlite:///{workdir / 'desktop.db'}", data_dir=str(workdir / "server")
        )
        server, password = start(settings, workdir, "server")
        try:
            loop = qt_loop()
            with loop:
                results.update(loop.run_until_complete(keystrokes(server.url, password, workdir / "homes")))
                campaign_id = loop.run_until_complete(prepare(server.url, password, workdir / "start"))
            runs = [run_child(workdir / "start", campaign_id, 0) for _ in range(STARTS)]
            results["startup_to_editable_s"] = {
                "runs": len(runs),
                "median": round(statistics.median(r["editable_s"] for r in runs), 3),
                "median_online": round(statistics.median(r["online_s"] for r in runs), 3),
            }
            results["memory"] = run_child(workdir / "start", campaign_id, OPEN)
        finally:
            server.stop()
    print(json.dumps(results, indent=2))
    save("desktop", results)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        startup_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(main())
