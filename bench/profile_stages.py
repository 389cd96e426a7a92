"""Where a room server's CPU goes, by stage, from py-spy's collapsed stacks.

    python -m bench.profile_stages PROFILE.txt [MICROSECONDS]

PROFILE.txt is what `py-spy record --threads --format raw` wrote (bench/rooms.py does it for
each phase with BENCH_PROFILE=folder). Each sample is given to the first stage, in the order of
`STAGES`, one of whose patterns is in one of its frames; samples whose innermost frame is the
event loop itself (uvloop is native: its own work shows as the loop's caller) are the loop's.
With MICROSECONDS (the server's CPU per unit of work, e.g. per delivered edit, from the
benchmark) each stage's share is also given in microseconds.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# (stage, patterns): a sample belongs to the first stage with a pattern in any of its frames.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("deflate (per-message compression)", ("permessage_deflate",)),
    # SQLAlchemy runs its async work in greenlets, whose stacks py-spy shows without their
    # caller: storing a batch and redeeming a ticket both end up here.
    (
        "database (SQLAlchemy and its driver)",
        ("collaboration/store.py", "sqlalchemy/", "aiosqlite/", "sqlite3", "asyncpg/"),
    ),
    ("after a stored batch (materialise, insights)", ("materialise.py", "insights.py")),
    ("logging", ("structlog/", "logging/__init__")),
    ("ticket redemption and sign-in", ("tickets.py", "identity/", "jwt", "campaigns/service.py")),
    (
        "room load and open",
        ("RoomManager.acquire", "load_document", "CampaignRoom.__init__", "YRoom.__aenter__"),
    ),
    ("a task per peer (spawning)", ("start_soon", "create_task")),
    ("presence (parse, stamp, apply)", ("presence.py", "_own_presence", "awareness", "Awareness")),
    ("validating updates", ("Connection._checked",)),
    (
        "sending (framework + websocket stack)",
        ("send_bytes", "send_data", "sansio_impl.py:5", ".send (", "Connection.send", "deliver"),
    ),
    ("receiving (websocket stack + framework)", ("data_received", "receive", "handle_events", "_receive")),
    ("applying to the room's document", ("handle_sync_message", "apply_update", "put_updates", "_broadcast")),
    ("WebSocket upgrade and routing (Litestar, uvicorn)", ("litestar/", "uvicorn/", "http11")),
]
LOOP = ("Runner.run (", "asyncio_run (")
# Threads parked in a queue, which py-spy can count as busy: not work, left out.
WAITING = (
    "_worker (concurrent/futures/thread.py:81)",
    "Condition.wait (",
    "_connection_worker_thread (aiosqlite/core.py:59)",
)
TASKS = "tasks, cancel scopes and timers (anyio, asyncio)"


def classify(frames: list[str]) -> str | None:
    if frames and frames[-1].startswith(WAITING):
        return None
    if frames and frames[-1].startswith(LOOP):
        return "the event loop itself (polling, callbacks)"
    for stage, patterns in STAGES:
        if any(pattern in frame for frame in frames for pattern in patterns):
            return stage
    if frames and ("anyio/" in frames[-1] or "asyncio/" in frames[-1]):
        return TASKS
    return "other"


def stages(profile: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stage = classify(stack.split(";")[1:]) if stack else None  # the first is the thread
        if stage is not None:
            counts[stage] += int(count)
    return counts


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    counts = stages(Path(argv[0]))
    per_unit = float(argv[1]) if len(argv) > 1 else None
    total = sum(counts.values()) or 1
    for stage, count in counts.most_common():
        share = count / total
        cost = f"  {share * per_unit:7.1f} µs" if per_unit is not None else ""
        print(f"{share:6.1%}{cost}  {stage}")
    print(f"({total} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
