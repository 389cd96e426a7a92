"""`justmaily verify`: a saved message, a certificate or a log entry, checked offline.

Plugged into the `justmaily` command through the `justmaily.commands` entry-point group, as the
desktop's command is: it needs no server, no database and no network, only the files a user
saved from the API and the keys they pinned (`audit.py` does the checks).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
import msgspec

if TYPE_CHECKING:
    from justmaily.shared.verify.audit import Report

T = TypeVar("T")


class UnusableInputError(click.ClickException):
    """Input that cannot be audited at all (unreadable, or not what it should be): exit code 2, as
    click's own usage errors, so that 1 always means "read fine, and it does not verify"."""

    exit_code = 2


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnusableInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _text(path: Path, what: str) -> str:
    try:
        return _read(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise UnusableInputError(f"{what} {path} is not UTF-8 text") from None


def _decode(path: Path, what: str, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(_read(path, what), type=type_)
    except msgspec.DecodeError as exc:  # a ValidationError is a DecodeError too
        raise UnusableInputError(f"{path} is not {what}: {exc}") from None


def _certificate_pem(path: Path, what: str) -> bytes:
    from cryptography import x509

    data = _read(path, what)
    try:
        x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise UnusableInputError(f"{path} is not {what} (a PEM certificate): {exc}") from None
    return data


def _crl_pem(path: Path) -> bytes:
    from cryptography import x509

    data = _read(path, "the CRL")
    try:
        x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise UnusableInputError(f"{path} is not a PEM certificate revocation list: {exc}") from None
    return data


def _log_key(value: str) -> str:
    """The pinned verifier key: as given, or `@file` holding it or the JSON of GET /api/transparency/key."""
    from justmaily.shared.trust import LogKey

    if not value.startswith("@"):
        return value.strip()
    text = _text(Path(value[1:]), "the log key file").strip()
    if not text.startswith("{"):
        return text
    try:
        return msgspec.json.decode(text, type=LogKey).verifier_key
    except msgspec.DecodeError as exc:
        raise UnusableInputError(f"{value[1:]} is not a log key (GET /api/transparency/key): {exc}") from None


def _checkpoint(path: Path) -> str:
    """A signed checkpoint: the note itself, or the JSON of GET /api/transparency/tree-head."""
    from justmaily.shared.trust import TreeHead

    text = _text(path, "the checkpoint")
    if not text.lstrip().startswith("{"):
        return text
    try:
        return msgspec.json.decode(text, type=TreeHead).checkpoint
    except msgspec.DecodeError as exc:
        raise UnusableInputError(
            f"{path} is not a tree head (GET /api/transparency/tree-head): {exc}"
        ) from None


def _moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2026-06-01T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # a bare time is UTC


def _verdict(ctx: click.Context, report: Report) -> None:
    from justmaily.shared.verify.audit import format_report

    click.echo(format_report(report), nl=False)
    ctx.exit(0 if report else 1)


input_file = click.Path(dir_okay=False, path_type=Path)
log_key_option = click.option(
    "--log-key",
    "log_key",
    required=True,
    metavar="KEY|@FILE",
    help="The log's verifier key you pinned (verifier_key of GET /api/transparency/key), or @FILE holding "
    "it or that JSON answer.",
)
ca_option = click.option(
    "--ca",
    "ca_file",
    required=True,
    type=input_file,
    help="The CA certificate you pinned (PEM; GET /api/transparency/ca).",
)
at_option = click.option(
    "--at",
    callback=_moment,
    metavar="ISO",
    help="The time to check at, ISO 8601 (default: now; without a zone: UTC).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def verify() -> None:
    """Verify a saved message, a certificate or a log entry, offline.

    Nothing is fetched: give the files you saved from the API (under /api/transparency, signed in
    as a member of the workspace) and the log key and CA certificate you pinned earlier. Only those
    two are trusted; what the server claims is checked against them. Each check is listed with its
    reason.

    \b
    Exit status: 0 valid, 1 invalid (the first failed check says why),
    2 unusable input (an unreadable file, or not what it should be).
    """


@verify.command("message")
@click.argument("message_file", metavar="FILE.eml", type=input_file)
@click.option(
    "--bundle",
    "bundle_file",
    required=True,
    type=input_file,
    help="The message's proof bundle (JSON): GET /api/transparency/messages/{message_id}/proof.",
)
@log_key_option
@ca_option
@at_option
@click.pass_context
def verify_message_command(
    ctx: click.Context,
    message_file: Path,
    bundle_file: Path,
    log_key: str,
    ca_file: Path,
    at: datetime | None,
) -> None:
    """Check that a sent message is what was approved and sent.

    FILE.eml is the message as a recipient saved it (any line endings; headers added on the way
    do not matter). The checks: its body hashes to what the send recorded (and to its DKIM bh=),
    it is in the send's batch, the send entry is in the log signed with your pinned key, and the
    certificate in its JustMaily-Certificate header was issued by your pinned CA, valid and not
    revoked when the message was sent, for the same approved content. A certificate revoked or
    expired after the send is a warning (!), not a failure: the message was sent under a valid
    approval. --at sets the time of that "now" status.
    """
    from justmaily.shared.trust import MessageProof
    from justmaily.shared.verify.audit import verify_message

    raw = _read(message_file, "the message")
    bundle = _decode(
        bundle_file, "a message proof bundle (GET /api/transparency/messages/{id}/proof)", MessageProof
    )
    ca_pem = _certificate_pem(ca_file, "the CA certificate")
    _verdict(ctx, verify_message(raw, bundle, log_key=_log_key(log_key), ca_pem=ca_pem, at=at))


@verify.command("certificate")
@click.argument("certificate_file", metavar="CERT.pem", type=input_file)
@ca_option
@click.option(
    "--crl",
    "crl_file",
    type=input_file,
    help="The CA's revocation list (PEM; GET /api/transparency/crl). Without it revocation is not checked.",
)
@at_option
@click.pass_context
def verify_certificate_command(
    ctx: click.Context, certificate_file: Path, ca_file: Path, crl_file: Path | None, at: datetime | None
) -> None:
    """Check a campaign certificate and show what it attests.

    CERT.pem is a campaign certificate (the `pem` of a certificate the API serves, e.g. in a
    message's proof bundle). Checked: issued by your pinned CA (not forged), valid at --at (default
    now) and, with --crl, not revoked then. Shown: the campaign, approved content hash,
    approvers, approval time and the log index of the approval.
    """
    from justmaily.shared.verify.audit import verify_certificate

    certificate = _certificate_pem(certificate_file, "a campaign certificate")
    ca_pem = _certificate_pem(ca_file, "the CA certificate")
    crl = None if crl_file is None else _crl_pem(crl_file)
    _verdict(ctx, verify_certificate(certificate, ca_pem=ca_pem, crl_pem=crl, at=at))


@verify.command("entry")
@click.argument("entry_file", metavar="ENTRY.json", type=input_file)
@click.option(
    "--proof",
    "proof_file",
    required=True,
    type=input_file,
    help="Its inclusion proof (JSON): GET /api/transparency/entries/{index}/inclusion?tree_size=N.",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    required=True,
    type=input_file,
    help="The signed tree head of that size: its checkpoint text, or the JSON of "
    "GET /api/transparency/tree-head (or one of GET /api/transparency/tree-heads).",
)
@log_key_option
@click.pass_context
def verify_entry_command(
    ctx: click.Context, entry_file: Path, proof_file: Path, checkpoint_file: Path, log_key: str
) -> None:
    """Check that a log entry is in the log, and show what it records.

    ENTRY.json is GET /api/transparency/entries/{index}. The entry's leaf (the exact bytes the log
    hashes) is checked against its data, and its inclusion proof against a checkpoint signed with
    your pinned key, for exactly the checkpoint's tree size.
    """
    from justmaily.shared.trust import InclusionProof, LogEntry
    from justmaily.shared.verify.audit import verify_entry

    entry = _decode(entry_file, "a log entry (GET /api/transparency/entries/{index})", LogEntry)
    proof = _decode(
        proof_file, "an inclusion proof (GET /api/transparency/entries/{index}/inclusion)", InclusionProof
    )
    checkpoint = _checkpoint(checkpoint_file)
    _verdict(ctx, verify_entry(entry, proof, checkpoint, log_key=_log_key(log_key)))
