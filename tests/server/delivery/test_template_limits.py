"""Templates cannot stall the server or fill its memory: bounded time, size and work, at preview
(in a worker thread, 422 naming the limit) and at send (the send is paused with an alert)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from jinja2.sandbox import SandboxedEnvironment

from justmaily.server.delivery.sandbox import BoundedSandbox, Limits, TemplateLimitError, render_bounded
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    campaign_messages,
    set_up_sending,
    start_send,
    wait_for_send,
)

NESTED_LOOPS = '{% for a in "x" * 1000 %}{% for b in "x" * 3000 %}{% endfor %}{% endfor %}'
HUGE = '{{ "x" * 20000000 }}'
# Legal at every step, but long: 90,000 times counting 5,000 words (seconds of work here).
SLOW = '{% set s = "ab " * 5000 %}{% for i in "x" * 90000 %}{% if s|wordcount < 0 %}x{% endif %}{% endfor %}'

ATTACKS = {
    "nested loops": (NESTED_LOOPS, "max_steps"),
    "a long string": (HUGE, "max_value"),
    "a long list": ("{{ [1] * 20000000 }}", "max_value"),
    "a list printing long": ('{{ [["x" * 1000] * 1000] * 1000 }}', "max_value"),
    "references joined": ('{{ (["x" * 100000] * 1000)|join }}', "max_value"),
    "replace": ('{{ ("x" * 100000)|replace("x", "x" * 100000) }}', "max_value"),
    "a str method": ('{{ "x".center(1000000000) }}', "max_value"),
    "a filter's width": ('{{ "x"|center(1000000000) }}', "max_value"),
    "printf width": ('{{ "%1000000000s" % "x" }}', "max_value"),
    "format width": ('{{ "{:>1000000000}".format("x") }}', "max_value"),
    "format width argument": ('{{ "{:>{w}}".format("x", w=1000000000) }}', "max_value"),
    "doubling with ~": (
        '{% set ns = namespace(s="x") %}{% for i in "x" * 40 %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
        "max_value",
    ),
    "doubling with +": (
        '{% set ns = namespace(s="x") %}{% for i in "x" * 40 %}{% set ns.s = ns.s + ns.s %}{% endfor %}',
        "max_value",
    ),
    "a huge number": ("{{ 7 ** 100000 }}", "max_value"),
    "bytes of a number": ('{{ (1).to_bytes(1000000000, "big")|length }}', "max_value"),
    "indenting": ('{{ ("x\n" * 100000)|indent(100000) }}', "max_value"),
    "batch filling": ('{{ [1]|batch(1000000, "x" * 1000)|list|length }}', "max_value"),
    "translate": ('{{ ("x" * 100000).translate({120: "y" * 100000}) }}', "max_value"),
    "recursion": ("{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}", "recursion"),
    "much output": ('{% for i in "x" * 100000 %}{{ "y" * 100000 }}{% endfor %}', "max_output"),
    "much work": ('{{ ("x" * 100000)|list|map("center", 1000)|join|length }}', "max_work"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_template_past_a_limit_is_stopped_quickly_naming_it(name: str) -> None:
    source, limit = ATTACKS[name]
    started = time.monotonic()
    with pytest.raises(TemplateLimitError) as refused:
        render_bounded(BoundedSandbox(autoescape=True).compile_bounded(source), {}, Limits(seconds=5))
    assert refused.value.limit == limit, refused.value
    assert time.monotonic() - started < 2


def test_rendering_stops_at_its_time_limit() -> None:
    template = BoundedSandbox().compile_bounded(SLOW)
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=r"longer than 0\.2 s") as refused:
        render_bounded(template, {}, Limits(seconds=0.2))
    assert refused.value.limit == "seconds"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ name|upper }}, your plan: {{ plan|default('free') }}",
        "{% for x in items %}{{ loop.index }}. {{ x|title }}{% if not loop.last %}, {% endif %}{% endfor %}",
        "{{ 'Dear ' ~ name ~ '!' }} {{ '%-6s|' % name }} {{ '{:>6}'.format(name) }} {{ name * 2 }}",
        "{{ items|join(', ') }} {{ items|length }} {{ (items + ['c'])|sort|first }} {{ 2 ** 10 }}",
        "{% set ns = namespace(n=0) %}{% for x in items %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
        "{{ {'a': 1}|dictsort }} {{ price|round(2) }} {{ '{:,}'.format(1234567890) }} {{ name|e }}",
    ],
)
def test_ordinary_templates_render_as_in_the_stock_sandbox(source: str) -> None:
    context = {"name": "Ada <3", "plan": None, "items": ["a", "b"], "price": 3.14159}
    for autoescape in (False, True):
        stock = SandboxedEnvironment(autoescape=autoescape).from_string(source).render(context)
        bounded = BoundedSandbox(autoescape=autoescape).compile_bounded(source)
        assert render_bounded(bounded, context, Limits(seconds=1)) == stock


async def _preview(client: httpx.AsyncClient, team: Team, body: str) -> httpx.Response:
    editor = team[Role.EDITOR].headers
    created = await client.post("/api/campaigns", json={"name": "Heavy", "subject": "Hi"}, headers=editor)
    campaign_id = created.json()["id"]
    patched = await client.patch(f"/api/campaigns/{campaign_id}/content", json={"body": body}, headers=editor)
    assert patched.status_code == 200, patched.text
    contact = await client.post(
        "/api/contacts",
        json={"email": "ada@example.com", "consent": "subscribed", "consent_source": "test"},
        headers=editor,
    )
    assert contact.status_code == 201, contact.text
    return await client.post(
        f"/api/campaigns/{campaign_id}/preview", json={"contact_id": contact.json()["id"]}, headers=editor
    )


async def _slowest_answer(client: httpx.AsyncClient, path: str, until: anyio.Event) -> float:
    """The longest a request to `path` waited, asked again and again until `until` is set."""
    slowest = 0.0
    while not until.is_set():
        started = time.monotonic()
        assert (await client.get(path)).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        await anyio.sleep(0.01)
    return slowest


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("body", "limit"),
    [(NESTED_LOOPS, "100,000 loop iterations"), (HUGE, "1,000,000 characters"), (SLOW, "longer than 2 s")],
)
async def test_a_preview_past_a_limit_is_refused_and_the_server_keeps_answering(
    client: httpx.AsyncClient, team: Team, body: str, limit: str
) -> None:
    done = anyio.Event()
    answered: dict[str, float] = {}

    async def watch() -> None:
        answered["slowest"] = await _slowest_answer(client, "/health/live", done)

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        response = await _preview(client, team, body)
        done.set()
    assert response.status_code == 422, response.text[:300]
    problem = response.json()
    assert problem["code"] == "template_limit"
    assert limit in problem["detail"]
    assert problem["errors"][0]["field"] == "body"
    assert answered["slowest"] < 0.5  # rendering is off the event loop


async def test_a_send_past_a_limit_is_paused_with_an_alert(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com", "name": "Ada"}])
    campaign_id = await approved_campaign(client, team, subject="Hi", body=f"Hello {NESTED_LOOPS}")
    send = await start_send(client, team, campaign_id, list_id=list_id)

    paused = await wait_for_send(client, team[Role.VIEWER].headers, send["id"], ("paused",))
    assert "limit of personalisation" in paused["alert"]
    assert "100,000 loop iterations" in paused["alert"]
    assert paused["counts"]["queued"] == 1  # kept, not failed: nothing was sent
    assert campaign_messages(smtp_sink) == []
