"""`/metrics` answers only its scrape token and counts requests by route template; the SLO
report counts what was served, for owners and admins only; the counts are stored on both
backends, added to what other processes stored."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import msgspec
from litestar import Litestar

from justmaily.server.app import create_app
from justmaily.server.ops import performance
from justmaily.server.ops.models import SliMinute
from justmaily.server.ops.sampler import Sampler
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.ops import PerformanceSnapshot, RouteTraffic
from justmaily.shared.roles import Role
from tests.plugins.api import Team, serving
from tests.support.server_process import free_port


def sample_value(exposition: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        found = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if found and ",".join(sorted(found.group(1).split(","))) == wanted:
            return float(found.group(2))
    return 0.0


async def test_metrics_need_the_scrape_token(app: Litestar, client: httpx.AsyncClient, team: Team) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, team[Role.OWNER].headers):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "metrics_token_required"
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
    token = services_of(app).metrics_token
    assert len(token) >= 32
    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain")


async def test_requests_are_counted_by_route_template(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    scrape = {"Authorization": f"Bearer {services_of(app).metrics_token}"}
    before = (await client.get("/metrics", headers=scrape)).text
    created = await client.post("/api/campaigns", json={"name": "Counted"}, headers=team[Role.EDITOR].headers)
    assert created.status_code == 201, created.text
    campaign = created.json()["id"]
    for _ in range(3):
        assert (
            await client.get(f"/api/campaigns/{campaign}", headers=team[Role.EDITOR].headers)
        ).status_code == 200
    after = (await client.get("/metrics", headers=scrape)).text
    route = "/api/campaigns/{campaign_id}"
    labels = {"method": "GET", "route": route, "status": "200"}
    counted = sample_value(after, "justmaily_http_requests_total", **labels)
    assert counted - sample_value(before, "justmaily_http_requests_total", **labels) == 3
    assert campaign not in after  # ids never become series
    assert (
        sample_value(after, "justmaily_http_request_duration_seconds_count", method="GET", route=route) >= 3
    )


async def test_the_slo_report_counts_what_was_served(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    for _ in range(5):
        assert (await client.get("/api/campaigns", headers=team[Role.VIEWER].headers)).status_code == 200
    assert (await client.get("/api/campaigns/not-an-id", headers=team[Role.VIEWER].headers)).status_code in (
        400,
        404,
    )
    await services_of(app).sampler.store_counts()
    forbidden = await client.get("/api/ops/slo", headers=team[Role.EDITOR].headers)
    assert forbidden.status_code == 403
    report = await client.get("/api/ops/slo", headers=team[Role.ADMIN].headers)
    assert report.status_code == 200, report.text
    by_name = {o["name"]: o for o in report.json()["objectives"]}
    assert set(by_name) == {
        "availability",
        "latency",
        "room_delivery",
        "send_completion",
        "tree_head_freshness",
    }
    availability = by_name["availability"]
    assert availability["total"] >= 6
    assert availability["good"] == availability["total"]  # 4xx are not failures
    assert availability["compliance"] == 1.0
    assert availability["alerts"] == []
    assert {b["window"] for b in availability["burn_rates"]} == {"5m", "30m", "1h", "6h", "3d"}


async def test_counts_of_several_processes_add_up(
    app: Litestar, client: httpx.AsyncClient, backend: str
) -> None:
    from justmaily.server.metrics import sli

    database = services_of(app).database
    sampler = Sampler(database, 60)
    minute = int(time.time() // 60) * 60
    sli.drain()  # what earlier requests counted
    for good in (True, True, False):
        sli.record(sli.SEND_COMPLETION, good, now=minute + 1)
    await sampler.store_counts()
    sli.record(sli.SEND_COMPLETION, True, now=minute + 2)  # as another process would, later
    await sampler.store_counts()
    async with database.session(read_only=True) as session:
        row = await session.get(SliMinute, ("send_completion", minute))
    assert row is not None
    assert (row.good, row.total) == (3, 4), backend


async def test_gauges_read_from_the_database(app: Litestar, client: httpx.AsyncClient) -> None:
    services = services_of(app)
    await services.sampler.sample()
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {services.metrics_token}"})).text
    assert 'justmaily_outbox_messages{state="queued"} 0.0' in text
    assert re.search(r"^justmaily_log_publish_lag_seconds \d", text, re.MULTILINE)


async def test_the_performance_snapshot_counts_requests_per_route(
    client: httpx.AsyncClient, team: Team
) -> None:
    forbidden = await client.get("/api/ops/performance", headers=team[Role.EDITOR].headers)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    before = msgspec.json.decode(
        (await client.get("/api/ops/performance", headers=team[Role.OWNER].headers)).content,
        type=PerformanceSnapshot,
    )
    for _ in range(4):
        assert (await client.get("/api/campaigns", headers=team[Role.VIEWER].headers)).status_code == 200
    answer = await client.get("/api/ops/performance", headers=team[Role.ADMIN].headers)
    assert answer.status_code == 200, answer.text
    after = msgspec.json.decode(answer.content, type=PerformanceSnapshot)
    assert after.taken_at >= before.taken_at

    def listing(snapshot: PerformanceSnapshot) -> RouteTraffic:
        found = [r for r in snapshot.routes if (r.method, r.route) == ("GET", "/api/campaigns")]
        return (
            found[0]
            if found
            else RouteTraffic(
                method="GET", route="/api/campaigns", requests=0, errors=0, latency=[], latency_sum=0.0
            )
        )

    then, now = listing(before), listing(after)
    assert now.requests - then.requests == 4
    assert now.errors == then.errors == 0
    # Cumulative buckets, ascending, the last unbounded one holding every request.
    bounds = [bucket.le for bucket in now.latency]
    assert bounds[-1] is None
    finite = [le for le in bounds[:-1] if le is not None]
    assert finite == sorted(finite)
    assert len(finite) == len(bounds) - 1
    counts = [bucket.count for bucket in now.latency]
    assert counts == sorted(counts)
    assert counts[-1] - (then.latency[-1].count if then.latency else 0) == 4
    assert now.latency_sum > then.latency_sum
    assert set(after.db_pool) <= {"in_use", "idle"}  # (breakers: process-wide, other tests open them)


async def test_the_performance_snapshot_counts_server_errors(tmp_path: Path) -> None:
    """A real 5xx (readiness while the database is unreachable), counted by the request
    middleware, is an error of its route in the snapshot."""
    unreachable = Settings.of(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        data_dir=str(tmp_path),
        db_pool_timeout_seconds=1,
    )

    def ready(snapshot: PerformanceSnapshot) -> tuple[int, int]:
        found = [r for r in snapshot.routes if (r.method, r.route) == ("GET", "/health/ready")]
        return (found[0].requests, found[0].errors) if found else (0, 0)

    before = ready(performance.snapshot())
    async with serving(create_app(unreachable)) as client:
        assert (await client.get("/health/ready")).status_code == 503
    after = ready(performance.snapshot())
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_signing_in_is_left_out_of_the_latency_objective_but_not_out_of_availability(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    from justmaily.server.metrics import sli
    from tests.plugins.api import TEST_PASSWORD

    sli.drain()
    signed_in = await client.post(
        "/api/auth/login", json={"email": team[Role.EDITOR].email, "password": TEST_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    counted = {slo: total for slo, _minute, _good, total in sli.drain()}
    assert counted.get("availability") == 1
    assert "latency" not in counted  # argon2id takes its time on purpose
    assert (await client.get("/api/campaigns", headers=team[Role.EDITOR].headers)).status_code == 200
    assert {slo for slo, *_ in sli.drain()} == {"availability", "latency"}
