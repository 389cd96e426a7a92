"""`justmaily verify`: files saved from the API, verified offline; exit 0 valid, 1 invalid, 2 unusable.

The artefacts are the real ones the audit tests build (tests/shared/test_audit.py), written to
files as a user would save them from the API.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner, Result

from justmaily.server.trust.ca import Revocation, pem
from justmaily.shared.trust import LogKey
from justmaily.shared.verify.cli import verify
from tests.shared.test_audit import (
    APPROVED_AT,
    AUDITED_AT,
    ORIGIN,
    SENT_AT,
    Keys,
    World,
    binding,
    build,
    make_keys,
)

AT = AUDITED_AT.isoformat()


@dataclass(frozen=True)
class Files:
    message: Path
    bundle: Path
    log_key: Path
    log_key_json: Path
    ca: Path
    crl: Path
    certificate: Path
    entry: Path
    proof: Path
    checkpoint: Path
    tree_head: Path
    world: World


def write(path: Path, data: bytes | str | msgspec.Struct) -> Path:
    if isinstance(data, msgspec.Struct):
        data = msgspec.json.encode(data)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def files(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("saved")
    world = build(keys)
    bundle = world.bundles[0]
    return Files(
        message=write(root / "message.eml", world.messages[0]),
        bundle=write(root / "bundle.json", bundle),
        log_key=write(root / "log.key.txt", world.log_key + "\n"),
        log_key_json=write(root / "key.json", LogKey(origin=ORIGIN, verifier_key=world.log_key)),
        ca=write(root / "ca.pem", world.ca_pem),
        crl=write(root / "crl.pem", bundle.crl_pem),
        certificate=write(root / "certificate.pem", pem(world.certificate)),
        entry=write(root / "entry.json", bundle.send_entry),
        proof=write(root / "proof.json", bundle.inclusion),
        checkpoint=write(root / "checkpoint.txt", bundle.tree_head.checkpoint),
        tree_head=write(root / "tree-head.json", bundle.tree_head),
        world=world,
    )


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(verify, [*map(str, args)])


def message_args(
    files: Files, replaced: Mapping[str, Path | str] | None = None, message: Path | None = None
) -> list[str | Path]:
    """`verify message` of the saved files, with some options (or the message file) replaced."""
    options: dict[str, Path | str] = {
        "--bundle": files.bundle,
        "--log-key": f"@{files.log_key}",
        "--ca": files.ca,
        "--at": AT,
        **(replaced or {}),
    }
    return ["message", message or files.message, *(x for kv in options.items() for x in kv)]


def test_help_says_where_each_input_comes_from() -> None:
    assert "Exit status: 0 valid, 1 invalid" in run("--help").output
    message_help = run("message", "--help").output
    for route in (
        "/api/transparency/messages/{message_id}/proof",
        "/api/transparency/key",
        "/api/transparency/ca",
    ):
        assert route in message_help
    assert "/api/transparency/crl" in run("certificate", "--help").output
    entry_help = run("entry", "--help").output
    for route in ("/api/transparency/entries/{index}", "/inclusion", "/api/transparency/tree-head"):
        assert route in entry_help


def test_a_genuine_message_exits_0_with_a_readable_report(files: Files) -> None:
    result = run(*message_args(files))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("✓ VALID: message ")
    assert "  ✓ body" in result.output
    assert "approvers" in result.output


def test_the_log_key_may_be_given_inline_or_as_the_api_json(files: Files) -> None:
    assert run(*message_args(files, {"--log-key": files.world.log_key})).exit_code == 0
    assert run(*message_args(files, {"--log-key": f"@{files.log_key_json}"})).exit_code == 0


def test_a_changed_body_exits_1_naming_the_change(files: Files, tmp_path: Path) -> None:
    changed = write(tmp_path / "changed.eml", files.world.messages[0].replace(b"reader 0", b"reader 1"))
    result = run(*message_args(files, message=changed))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("✗ INVALID")
    assert "body: the body was changed after it was sent" in result.output
    assert "Claimed (NOT verified):" in result.output


def test_another_pinned_key_exits_1(files: Files, keys: Keys) -> None:
    result = run(*message_args(files, {"--log-key": keys.other_signer.verifier_key}))
    assert result.exit_code == 1
    assert "log key: the bundle names the log key" in result.output


@pytest.mark.parametrize(
    ("option", "content", "expected"),
    [
        ("--bundle", b'{"message_id": 1}', "is not a message proof bundle"),
        ("--bundle", b"not json", "is not a message proof bundle"),
        ("--ca", b"not a certificate", "is not the CA certificate (a PEM certificate)"),
    ],
)
def test_unusable_input_exits_2_with_a_message(
    files: Files, tmp_path: Path, option: str, content: bytes, expected: str
) -> None:
    bad = write(tmp_path / "bad", content)
    result = run(*message_args(files, {option: bad}))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_files_and_bad_times_exit_2(files: Files, tmp_path: Path) -> None:
    missing = run(*message_args(files, message=tmp_path / "nowhere.eml"))
    assert missing.exit_code == 2
    assert "cannot read the message" in missing.output
    assert run(*message_args(files, {"--log-key": f"@{tmp_path / 'nokey'}"})).exit_code == 2
    bad_time = run(*message_args(files, {"--at": "yesterday"}))
    assert bad_time.exit_code == 2
    assert "is not an ISO 8601 time" in bad_time.output


def test_certificates(files: Files, keys: Keys, tmp_path: Path) -> None:
    valid = run("certificate", files.certificate, "--ca", files.ca, "--crl", files.crl, "--at", AT)
    assert valid.exit_code == 0, valid.output
    assert "content hash" in valid.output
    no_crl = run("certificate", files.certificate, "--ca", files.ca, "--at", AT)
    assert no_crl.exit_code == 0
    assert "! not revoked" in no_crl.output
    forged = write(
        tmp_path / "forged.pem", pem(keys.other_ca.issue_campaign_certificate(binding(), now=APPROVED_AT))
    )
    result = run("certificate", forged, "--ca", files.ca, "--at", AT)
    assert result.exit_code == 1
    assert "is forged" in result.output
    revoked = [Revocation(files.world.certificate.serial_number, SENT_AT, "keyCompromise")]
    crl = write(tmp_path / "revoked.pem", pem(keys.ca.revocation_list(revoked, now=AUDITED_AT)))
    result = run("certificate", files.certificate, "--ca", files.ca, "--crl", crl, "--at", AT)
    assert result.exit_code == 1
    assert "revoked on" in result.output
    expired_at = (AUDITED_AT + timedelta(days=3653)).isoformat()
    assert run("certificate", files.certificate, "--ca", files.ca, "--at", expired_at).exit_code == 1
    assert run("certificate", files.crl, "--ca", files.ca).exit_code == 2  # a CRL is not a certificate
    assert run("certificate", files.certificate, "--ca", files.ca, "--crl", files.ca).exit_code == 2


def test_entries(files: Files, keys: Keys, tmp_path: Path) -> None:
    base: list[str | Path] = ["--proof", files.proof, "--log-key", f"@{files.log_key}"]
    valid = run("entry", files.entry, "--checkpoint", files.checkpoint, *base)
    assert valid.exit_code == 0, valid.output
    assert "content_hash" in valid.output
    assert run("entry", files.entry, "--checkpoint", files.tree_head, *base).exit_code == 0
    proof = msgspec.json.decode(files.proof.read_bytes())
    smaller = write(
        tmp_path / "smaller.json", msgspec.json.encode({**proof, "tree_size": proof["tree_size"] - 1})
    )
    result = run(
        "entry",
        files.entry,
        "--checkpoint",
        files.checkpoint,
        "--proof",
        smaller,
        "--log-key",
        f"@{files.log_key}",
    )
    assert result.exit_code == 1
    assert "a proof for another tree size proves nothing" in result.output
    entry = msgspec.json.decode(files.entry.read_bytes())
    leaf = msgspec.json.decode(base64.b64decode(entry["leaf"])) | {"messages": 40}
    edited_leaf = msgspec.json.encode(leaf, order="sorted")
    edited = write(
        tmp_path / "edited.json",
        msgspec.json.encode(entry | {"leaf": base64.b64encode(edited_leaf).decode(), "data": leaf}),
    )
    result = run("entry", edited, "--checkpoint", files.checkpoint, *base)
    assert result.exit_code == 1
    assert "root mismatch" in result.output
    other_key = run(
        "entry",
        files.entry,
        "--checkpoint",
        files.checkpoint,
        "--proof",
        files.proof,
        "--log-key",
        keys.other_signer.verifier_key,
    )
    assert other_key.exit_code == 1
    assert "unknown key" in other_key.output
    assert run("entry", files.proof, "--checkpoint", files.checkpoint, *base).exit_code == 2
    assert run("entry", files.entry, "--checkpoint", files.entry, *base).exit_code == 2


def test_the_justmaily_command_has_it(files: Files) -> None:
    """As a user runs it: `justmaily verify`, plugged in through the entry-point group."""
    command = [sys.executable, "-m", "justmaily.server.cli", "verify", "certificate", str(files.certificate)]
    command += ["--ca", str(files.ca), "--crl", str(files.crl), "--at", AT]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("✓ VALID")
    refused = subprocess.run(
        [*command[:5], "missing.pem", *command[6:]], capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 2
    assert "cannot read" in refused.stderr
