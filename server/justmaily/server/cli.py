"""`justmaily`: serve, migrate, create users; other layers add sub-commands via entry points."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import click
import msgspec

from justmaily.server.settings import DEFAULT_PUBLIC_URL, Settings, SettingsError, load_settings, redact_url
from justmaily.shared.auth import NewPassword, Slug
from justmaily.shared.roles import Role

if TYPE_CHECKING:
    import socket

    import uvicorn

    from justmaily.shared.audit import Report

T = TypeVar("T")
# As the API's InvitationAccept and the users.display_name column.
DisplayName = Annotated[str, msgspec.Meta(max_length=200)]
# Sub-commands that other layers (the desktop app) contribute without the server importing them.
COMMANDS_ENTRY_POINT_GROUP = "justmaily.commands"

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (also JUSTMAILY_CONFIG). Environment variables override it.",
)


def _settings(config_file: Path | None) -> Settings:
    from justmaily.server.logging import configure_logging

    try:
        settings, unknown = load_settings(config_file=config_file)
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    configure_logging(settings.logs.level, settings.logs.format)
    for name in unknown:
        click.echo(f"warning: {name} is not a JustMaily setting; ignored", err=True)
    return settings


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """Turn a database that cannot be reached or used into a message instead of a traceback
    (whose SQL parameters could show a password hash)."""
    from sqlalchemy.exc import DBAPIError

    where = redact_url(settings.effective_database_url)
    try:
        yield
    except DBAPIError as exc:
        raise click.ClickException(f"database {where}: {exc.orig}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database {where}: {exc}") from None


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from justmaily.server.migrations.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _check(value: str, type_: object, problem: str) -> None:
    try:
        msgspec.convert(value, type_)
    except msgspec.ValidationError:
        raise click.UsageError(problem) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """JustMaily: collaborative e-mail campaigns."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option("--demo", is_flag=True, help="Seed a demo workspace and print its sign-in details.")
@config_option
def serve(host: str, port: int, demo: bool, config_file: Path | None) -> None:
    """Run the API server (database from JUSTMAILY_DATABASE_URL; default SQLite in the data dir).

    Links in sent messages point to this server (http://HOST:PORT, on a loopback host), unless
    JUSTMAILY_PUBLIC_URL names the public address.
    """
    import uvicorn

    from justmaily.server.app import create_app

    url = f"http://{_url_host(host)}:{port}"
    settings = _links_to(_settings(config_file), host, port)
    if demo:
        _seed_demo(settings)
    app = create_app(settings)
    # Thousands of long-lived connections make each full garbage collection walk millions of
    # objects (about a second at 5,000 room connections): collect rarely, and never the start-up
    # objects again. Our code makes few reference cycles; memory stays flat in bench/rooms.py.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so a client on
        # this machine (or a proxy that passes the header on) could pick its own address for
        # the per-IP limits. Only the proxies the operator names are believed.
        proxy_headers=bool(settings.http.trusted_proxies),
        forwarded_allow_ips=settings.http.trusted_proxies or "",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # The sans-I/O implementation hands the app every message a client sent before it
        # closed; the legacy one drops them once a send to that client fails (lost edits).
        ws="websockets-sansio",
    )
    banner = f"JustMaily is serving at {url}  (API: {url}/api, OpenAPI: {url}/schema/openapi.json)"
    server = _announcing_server(config, banner)
    with suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: it could not start (the reason is in the log)


def _announcing_server(config: uvicorn.Config, banner: str) -> uvicorn.Server:
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        """Prints the banner once the socket accepts connections, not before: a person or a
        script that waits for the line can connect at once."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                click.echo(banner)

    return AnnouncingServer(config)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _links_to(settings: Settings, host: str, port: int) -> Settings:
    """The settings with links pointing to this server, unless JUSTMAILY_PUBLIC_URL was given.

    A loopback host is linked as it is; on any other the server is still reached on this machine
    at 127.0.0.1 (messages to others need a public https address: JUSTMAILY_PUBLIC_URL).
    """
    if settings.public_url != DEFAULT_PUBLIC_URL:
        return settings
    loopback = host if host in ("127.0.0.1", "::1", "localhost") else "127.0.0.1"
    return settings.replaced(public_url=f"http://{_url_host(loopback)}:{port}")


def _seed_demo(settings: Settings) -> None:
    from justmaily.server.db.engine import Database
    from justmaily.server.demo import DEMO_PASSWORD_FILE, DEMO_USERS, DEMO_WORKSPACE, demo_password, seed_demo
    from justmaily.server.keys.files import fernet_key
    from justmaily.server.keys.sealed import SecretBox
    from justmaily.server.migrations.migrate import upgrade_to_head

    password = demo_password(settings.data_path)

    async def seed() -> None:
        database = Database(settings)
        try:
            await upgrade_to_head(database.engine)
            await seed_demo(database, password, SecretBox(fernet_key(settings.secrets_key_path)))
        finally:
            await database.dispose()

    with _database_errors(settings):
        _run(seed)
    click.echo(f"Demo workspace {DEMO_WORKSPACE!r} is ready. Sign in with any of these, password {password}:")
    for role, email in DEMO_USERS.items():
        click.echo(f"  {role.value:<9} {email}")
    click.echo(
        f"The password is kept in {settings.data_path / DEMO_PASSWORD_FILE}; links in sent messages"
        f" point to {settings.public_url}."
    )


@cli.command()
@config_option
def migrate(config_file: Path | None) -> None:
    """Bring the database schema up to date (safe to run from several replicas at once)."""
    from justmaily.server.db.engine import Database
    from justmaily.server.migrations.migrate import current_revision, upgrade_to_head

    settings = _settings(config_file)

    async def go() -> str | None:
        database = Database(settings)
        try:
            await upgrade_to_head(database.engine)
            return await current_revision(database.engine)
        finally:
            await database.dispose()

    with _database_errors(settings):
        revision = _run(go)
    click.echo(f"{redact_url(settings.effective_database_url)} is at revision {revision}")


@cli.command("create-user")
@click.option("--workspace", required=True, help="Workspace slug; created when new.")
@click.option("--email", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when omitted (keeps it out of the shell history).",
)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", "display_name", default="", help="Display name (for a new account).")
@config_option
def create_user(
    workspace: str, email: str, password: str, role: str, display_name: str, config_file: Path | None
) -> None:
    """Create (or update) an account and make it a member of a workspace."""
    from justmaily.server.db.engine import Database
    from justmaily.server.http.problems import ApiError
    from justmaily.server.identity.accounts import AccountService, checked_email
    from justmaily.server.migrations.migrate import current_revision, upgrade_to_head

    _check(workspace, Slug, "--workspace: 2-63 lower-case letters, digits or dashes")
    _check(password, NewPassword, "--password: at least 12 characters")
    _check(display_name, DisplayName, "--name: at most 200 characters")
    try:
        checked_email(email)  # before the database is touched (or, for SQLite, created)
    except ApiError as exc:
        raise click.UsageError(f"--email: {exc.detail}") from None
    settings = _settings(config_file)

    async def go() -> tuple[str, bool]:
        database = Database(settings)
        try:
            if settings.migrate_on_startup:
                await upgrade_to_head(database.engine)
            elif (revision := await current_revision(database.engine)) != (head := _head_revision()):
                raise click.ClickException(
                    f"the database is at revision {revision}, not {head}: run `justmaily migrate` first"
                )
            async with database.session() as session, session.begin():
                accounts = AccountService(session)
                space = await accounts.ensure_workspace(workspace)
                user, created = await accounts.ensure_user(email, password, display_name)
                if not created:
                    await accounts.set_password(user, password)
                await accounts.set_membership(space, user, Role(role))
                return user.email, created
        finally:
            await database.dispose()

    try:
        with _database_errors(settings):
            stored_email, created = _run(go)
    except ApiError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{'created' if created else 'updated'} {stored_email} as {role} of {workspace}")


# --- justmaily verify: offline audits -----------------------------------------------------------------------


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
    from justmaily.shared.audit import format_report

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


@cli.group()
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
    from justmaily.shared.audit import verify_message
    from justmaily.shared.trust import MessageProof

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
    from justmaily.shared.audit import verify_certificate

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
    from justmaily.shared.audit import verify_entry
    from justmaily.shared.trust import InclusionProof, LogEntry

    entry = _decode(entry_file, "a log entry (GET /api/transparency/entries/{index})", LogEntry)
    proof = _decode(
        proof_file, "an inclusion proof (GET /api/transparency/entries/{index}/inclusion)", InclusionProof
    )
    checkpoint = _checkpoint(checkpoint_file)
    _verdict(ctx, verify_entry(entry, proof, checkpoint, log_key=_log_key(log_key)))


def main() -> None:
    for entry in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        if entry.name in cli.commands:
            continue
        try:
            command = entry.load()
        except Exception as exc:
            click.echo(f"warning: sub-command {entry.name!r} ({entry.value}) failed to load: {exc}", err=True)
            continue
        cli.add_command(command, entry.name)
    cli()


if __name__ == "__main__":
    main()
