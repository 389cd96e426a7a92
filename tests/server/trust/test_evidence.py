"""Certificates and sends on the record: from an approval to a recipient's saved message."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from justmaily.server.cli import cli
from justmaily.shared.roles import Role
from justmaily.shared.trust import CERTIFICATE_HEADER, CertificateStatus, MessageProof
from justmaily.shared.verify import transparency
from justmaily.shared.verify.audit import format_report, verify_message
from justmaily.shared.verify.certificates import certificate_status, verify_campaign_certificate
from justmaily.shared.verify.evidence import body_hash, message_leaf, split_message
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    campaign_messages,
    set_up_sending,
    start_send,
    verified_signatures,
    wait_for_send,
)
from tests.server.trust.test_log_api import signed_head

PEOPLE: list[dict[str, Any]] = [{"email": f"r{n}@example.com", "name": f"R{n}"} for n in range(5)]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


async def test_every_message_points_to_its_certificate_and_is_provable_offline(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    viewer = team[Role.VIEWER].headers
    records = await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, PEOPLE)
    campaign_id = await approved_campaign(client, team, subject="Hi {{ name }}", body="Spring is here.")
    [certificate] = (await client.get("/api/transparency/certificates", headers=viewer)).json()
    assert (certificate["campaign_id"], certificate["status"]) == (campaign_id, "valid")
    ca_pem = (await client.get("/api/transparency/ca", headers=viewer)).text
    binding, verdict = verify_campaign_certificate(certificate["pem"], ca_pem, at=datetime.now().astimezone())
    assert verdict.ok, verdict.reason
    assert binding is not None
    campaign = (await client.get(f"/api/campaigns/{campaign_id}", headers=viewer)).json()
    assert binding.content_hash == campaign["approved_hash"] == certificate["content_hash"]

    send = await start_send(client, team, campaign_id, list_id=list_id)
    done = await wait_for_send(client, viewer, send["id"])
    messages = campaign_messages(smtp_sink)
    assert len(messages) == 5
    for received in messages:
        header = str(received.message[CERTIFICATE_HEADER])
        assert header == (
            f"serial={certificate['serial']}; approval={certificate['log_index']}; "
            f"content-hash={certificate['content_hash']}"
        )
        assert verified_signatures(received, records) == [True, True]  # the header is signed

    # A recipient's saved copy (headers added on the way, LF line endings) and its proof bundle.
    received = messages[0]
    saved = (
        b"Received: from relay.example by mx.example; Mon, 1 Jun 2026 10:00:00 +0000\n"
        + received.data.replace(b"\r\n", b"\n")
    )
    message_id, body = split_message(saved)
    assert message_id == received.message_id
    # The two keys, the approval, its certificate, the mesh's content check, the send.
    await signed_head(client, viewer, 6)
    response = await client.get(
        f"/api/transparency/messages/{quote(message_id, safe='')}/proof", headers=viewer
    )
    assert response.status_code == 200, response.text
    proof = msgspec.json.decode(response.content, type=MessageProof)
    assert proof.body_sha256 == body_hash(body)
    entry = proof.send_entry.data
    assert (entry["kind"], entry["send_id"], entry["messages"]) == ("send", send["id"], 5)
    assert entry["content_hash"] == done["content_hash"] == certificate["content_hash"]
    leaf = transparency.leaf_hash(message_leaf(message_id, body_hash(body)))
    batch_root = b64(entry["batch_root"])
    batch = [b64(h) for h in proof.batch_hashes]
    assert transparency.verify_inclusion(leaf, proof.batch_index, proof.batch_size, batch, batch_root)
    key = (await client.get("/api/transparency/key", headers=viewer)).json()["verifier_key"]
    checkpoint, opened = transparency.open_checkpoint(proof.tree_head.checkpoint, key)
    assert opened, opened.reason
    assert checkpoint is not None
    assert transparency.verify_inclusion(
        transparency.leaf_hash(b64(proof.send_entry.leaf)),
        proof.inclusion.index,
        checkpoint.size,
        [b64(h) for h in proof.inclusion.hashes],
        checkpoint.root,
    )
    # The whole chain, as `justmaily verify message` checks it with the pinned key and CA.
    report = verify_message(saved, proof, log_key=key, ca_pem=ca_pem)
    assert report.verdict.ok, format_report(report)
    tampered = verify_message(saved.replace(b"Spring", b"Autumn"), proof, log_key=key, ca_pem=ca_pem)
    assert not tampered.verdict.ok
    assert "body" in tampered.verdict.reason

    # The same from the command line, with the files an auditor saved.
    files = {"message.eml": saved, "bundle.json": response.content, "ca.pem": ca_pem.encode()}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    args = ["verify", "message", str(tmp_path / "message.eml"), "--bundle", str(tmp_path / "bundle.json")]
    args += ["--log-key", key, "--ca", str(tmp_path / "ca.pem")]
    verdict_line = CliRunner().invoke(cli, args)
    assert verdict_line.exit_code == 0, verdict_line.output
    (tmp_path / "message.eml").write_bytes(saved.replace(b"Spring", b"Autumn"))
    assert CliRunner().invoke(cli, args).exit_code == 1

    # A body changed after sending is no leaf of the batch.
    changed = transparency.leaf_hash(message_leaf(message_id, body_hash(body.replace(b"Spring", b"Autumn"))))
    assert not transparency.verify_inclusion(changed, proof.batch_index, proof.batch_size, batch, batch_root)

    other = await client.get(
        f"/api/transparency/messages/{quote(message_id, safe='')}/proof", headers=team.rival.headers
    )
    assert other.status_code == 404

    # Erasing another recipient changes nothing this message proves: the batch is stored apart.
    contacts = (await client.get("/api/contacts", headers=team[Role.EDITOR].headers)).json()["items"]
    someone_else = next(c for c in contacts if c["email"] != received.recipient.lower())
    erased = await client.delete(f"/api/contacts/{someone_else['id']}", headers=team[Role.EDITOR].headers)
    assert erased.status_code == 204
    again = await client.get(f"/api/transparency/messages/{quote(message_id, safe='')}/proof", headers=viewer)
    proof = msgspec.json.decode(again.content, type=MessageProof)
    assert verify_message(saved, proof, log_key=key, ca_pem=ca_pem).verdict.ok


@pytest.mark.backends("sqlite")
async def test_an_edit_after_approval_revokes_the_certificate(client: httpx.AsyncClient, team: Team) -> None:
    viewer = team[Role.VIEWER].headers
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Spring is here.")
    [issued] = (await client.get("/api/transparency/certificates", headers=viewer)).json()
    edit = await client.patch(
        f"/api/campaigns/{campaign_id}/content",
        json={"body": "Autumn is here."},
        headers=team[Role.EDITOR].headers,
    )
    assert edit.status_code == 200, edit.text
    revoked = (await client.get(f"/api/transparency/certificates/{issued['serial']}", headers=viewer)).json()
    assert (revoked["status"], revoked["revocation_reason"]) == ("revoked", "superseded")
    ca_pem = (await client.get("/api/transparency/ca", headers=viewer)).text
    crl_pem = (await client.get("/api/transparency/crl", headers=viewer)).text
    status, verdict = certificate_status(
        issued["pem"], ca_pem, at=datetime.now().astimezone(), crl_pem=crl_pem
    )
    assert status is CertificateStatus.REVOKED, verdict.reason
    head = await signed_head(client, viewer, 5)  # the two keys, the approval, issued, revoked
    kinds = []
    for index in range(head["size"]):
        kinds.append((await client.get(f"/api/transparency/entries/{index}", headers=viewer)).json()["kind"])
    assert kinds.count("certificate_revoked") == 1
    assert kinds.index("approval") < kinds.index("certificate_issued") < kinds.index("certificate_revoked")
    assert (await client.get("/api/transparency/certificates/ffff", headers=viewer)).status_code == 404
    assert (
        await client.get(f"/api/transparency/certificates/{issued['serial']}", headers=team.rival.headers)
    ).status_code == 404


@pytest.mark.backends("sqlite")
async def test_an_edit_cancels_a_scheduled_send_of_the_voided_approval(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, PEOPLE[:2])
    campaign_id = await approved_campaign(client, team, subject="Hi", body="Old approved text.")
    later = (datetime.now().astimezone() + timedelta(hours=1)).isoformat()
    send = await start_send(client, team, campaign_id, list_id=list_id, send_at=later)
    edit = await client.patch(
        f"/api/campaigns/{campaign_id}/content",
        json={"body": "Stop, fix this"},
        headers=team[Role.EDITOR].headers,
    )
    assert edit.status_code == 200, edit.text
    viewer = team[Role.VIEWER].headers
    cancelled = (await client.get(f"/api/sends/{send['id']}", headers=viewer)).json()
    assert cancelled["status"] == "cancelled"
    assert "content changed" in cancelled["alert"]
    campaign = (await client.get(f"/api/campaigns/{campaign_id}", headers=viewer)).json()
    assert campaign["status"] == "draft"
    [certificate] = (await client.get("/api/transparency/certificates", headers=viewer)).json()
    assert certificate["status"] == "revoked"
