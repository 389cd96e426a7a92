"""Contacts, lists, segments, suppressions and CSV import/export through the API."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest

from justmaily.shared.roles import Role
from tests.plugins.api import Team


async def _import(
    client: httpx.AsyncClient, team: Team, content: bytes | AsyncIterator[bytes], **extra: str
) -> dict[str, Any]:
    editor = team[Role.EDITOR].headers
    created = await client.post("/api/imports", json={"consent_source": "fair", **extra}, headers=editor)
    assert created.status_code == 201, created.text
    uploaded = await client.put(
        f"/api/imports/{created.json()['id']}/file",
        content=content,
        headers={**editor, "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 200, uploaded.text
    return dict(uploaded.json())


async def test_contacts_are_validated_normalised_and_kept_per_workspace(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    created = await client.post(
        "/api/contacts",
        json={
            "email": "Ada@Bücher.Example",
            "name": "Ada",
            "consent": "subscribed",
            "consent_source": "form",
        },
        headers=editor,
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "Ada@xn--bcher-kva.example"
    again = await client.post("/api/contacts", json={"email": "ada@bücher.example"}, headers=editor)
    assert (again.status_code, again.json()["code"]) == (409, "contact_exists")
    bad = await client.post("/api/contacts", json={"email": "bob@"}, headers=editor)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_email")
    assert bad.json()["errors"][0]["field"] == "email"
    assert (await client.get("/api/contacts", headers=team.rival.headers)).json()["items"] == []
    refused = await client.get("/api/contacts", headers=team[Role.REVIEWER].headers)
    assert refused.status_code == 403  # reviewers never see personal data


@pytest.mark.backends("sqlite")
async def test_segments_filter_contacts_and_report_errors_where_they_are(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    for email, plan in (("a@example.com", "pro"), ("b@example.com", "free"), ("c@example.com", "pro")):
        body = {"email": email, "attributes": {"plan": plan}, "consent": "subscribed"}
        assert (await client.post("/api/contacts", json=body, headers=editor)).status_code == 201
    segment = await client.post(
        "/api/segments", json={"name": "Pros", "filter": 'plan = "pro"'}, headers=editor
    )
    assert segment.status_code == 201, segment.text
    preview = (await client.get(f"/api/segments/{segment.json()['id']}/preview", headers=editor)).json()
    assert preview["count"] == 2
    assert sorted(c["email"] for c in preview["sample"]) == ["a@example.com", "c@example.com"]
    broken = await client.post(
        "/api/segments", json={"name": "X", "filter": 'plan = "pro" and'}, headers=editor
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "invalid_filter")
    assert "column" in broken.json()["detail"]
    unknown_list = await client.post(
        "/api/segments", json={"name": "Y", "filter": 'in list "Nope"'}, headers=editor
    )
    assert (unknown_list.status_code, unknown_list.json()["code"]) == (422, "invalid_filter")
    exported = await client.get(f"/api/segments/{segment.json()['id']}/export", headers=editor)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(r["email"] for r in rows) == ["a@example.com", "c@example.com"]
    assert {r["plan"] for r in rows} == {"pro"}


async def test_a_csv_import_streams_reports_bad_rows_and_merges_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    listed = (await client.post("/api/lists", json={"name": "Fair"}, headers=editor)).json()
    existing = {"email": "known@example.com", "name": "Known", "consent": "unsubscribed"}
    assert (await client.post("/api/contacts", json=existing, headers=editor)).status_code == 201
    rows = [
        "Email;Name;Plan",
        "one@example.com;One;pro",
        "bob@;Bob;free",
        "ONE@example.com;Dup;x",
        "known@example.com;;team",
    ]
    rows += [f"user{i}@example.com;User {i};free" for i in range(2500)]
    content = ("\ufeff" + "\r\n".join(rows) + "\r\n").encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    report = await _import(client, team, chunks(), list_id=listed["id"])
    assert report["status"] == "done"
    assert report["rows_read"] == 2504
    assert report["rows_valid"] == 2502
    assert (report["rows_rejected"], report["rows_duplicate"]) == (1, 1)
    assert (report["contacts_created"], report["contacts_updated"]) == (2501, 1)
    reasons = {r["row"]: r["reason"] for r in report["rejections"]}
    assert "not a valid address" in reasons[3]
    assert "row 2" in reasons[4]
    lists = (await client.get("/api/lists", headers=editor)).json()
    assert next(x for x in lists if x["id"] == listed["id"])["members"] == 2502
    known = (
        await client.get("/api/contacts", params={"filter": 'email = "known@example.com"'}, headers=editor)
    ).json()
    assert known["items"][0]["consent"] == "unsubscribed"  # an import never re-subscribes
    assert known["items"][0]["attributes"] == {"Plan": "team"}


@pytest.mark.backends("sqlite")
async def test_a_refused_file_writes_nothing_and_says_why(client: httpx.AsyncClient, team: Team) -> None:
    editor = team[Role.EDITOR].headers
    before = (await client.get("/api/contacts", headers=editor)).json()["items"]
    latin1 = "email,name\nok@example.com,Zoë\n".encode("latin-1")
    report = await _import(client, team, b"email,name\n" + b"a@example.com,A\n" * 3000 + latin1)
    assert report["status"] == "failed"
    assert "UTF-8" in report["error"]
    no_email = await _import(client, team, b"name,plan\nAda,pro\n")
    assert no_email["status"] == "failed"
    assert "email" in no_email["error"]
    assert (await client.get("/api/contacts", headers=editor)).json()["items"] == before


@pytest.mark.backends("sqlite")
async def test_import_progress_is_visible_while_the_file_streams(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    created = (await client.post("/api/imports", json={"consent_source": "slow"}, headers=editor)).json()
    gate = anyio.Event()

    async def slow_chunks() -> AsyncIterator[bytes]:
        yield b"email\n" + b"".join(f"p{i}@example.com\n".encode() for i in range(1500))
        await gate.wait()
        yield b"last@example.com\n"

    async def upload() -> None:
        response = await client.put(
            f"/api/imports/{created['id']}/file",
            content=slow_chunks(),
            headers={**editor, "Content-Type": "text/csv"},
        )
        assert response.json()["status"] == "done"

    async with anyio.create_task_group() as group:
        group.start_soon(upload)
        deadline = time.monotonic() + 10
        while True:
            progress = (await client.get(f"/api/imports/{created['id']}", headers=editor)).json()
            if progress["rows_read"] >= 1000:
                break
            assert time.monotonic() < deadline, progress
            await anyio.sleep(0.02)
        assert progress["status"] == "reading"
        assert (await client.get("/api/contacts", headers=editor)).json()["items"] == []  # not merged yet
        gate.set()
    final = (await client.get(f"/api/imports/{created['id']}", headers=editor)).json()
    assert (final["status"], final["contacts_created"]) == ("done", 1501)


@pytest.mark.parametrize("name", ["Подписчики", "订阅者 2026", "Συνδρομητές", 'Ünïcode "quoted"'])
async def test_exports_of_lists_named_in_any_script_download(
    client: httpx.AsyncClient, team: Team, name: str
) -> None:
    editor = team[Role.EDITOR].headers
    listed = await client.post("/api/lists", json={"name": name}, headers=editor)
    assert listed.status_code == 201, listed.text
    exported = await client.get(f"/api/lists/{listed.json()['id']}/export", headers=editor)
    assert exported.status_code == 200, exported.text
    disposition = exported.headers["content-disposition"]
    assert disposition.isascii()
    fallback = re.search(r'filename="([^"]*)"', disposition)
    assert fallback is not None
    assert fallback.group(1).endswith(".csv")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", fallback.group(1))
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    saved_as = unquote(encoded, errors="strict")
    assert saved_as.endswith(".csv")
    assert name.split(maxsplit=1)[0] in saved_as  # the name as written, not its ASCII stand-in
