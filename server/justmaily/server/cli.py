"""`justmaily`: serve, migrate, create users; other layers add sub-commands via entry points
(`desktop` from the desktop, `verify` from `justmaily.shared.verify`)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
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
    from litestar import Litestar

T = TypeVar("T")
# As the API's InvitationAccept and the users.display_name column.
DisplayName = Annotated[str, msgspec.Meta(max_length=200)]
# Sub-commands that other layers (the desktop app, the verifier) contribute without the server
# importing them.
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


class _WithPlugins(click.Group):
    """Our commands, and those other layers plug in (loaded when first asked for, so `cli`
    itself, as the tests invoke it, has them too). One that fails to load is reported, not fatal."""

    def _load_plugins(self) -> None:
        if getattr(self, "_plugins_loaded", False):
            return
        self._plugins_loaded = True
        for entry in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
            if entry.name in self.commands:
                continue
            try:
                command = entry.load()
            except Exception as exc:
                click.echo(
                    f"warning: sub-command {entry.name!r} ({entry.value}) failed to load: {exc}", err=True
                )
                continue
            self.add_command(command, entry.name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugins()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_WithPlugins, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """JustMaily: collaborative e-mail campaigns."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option("--demo", is_flag=True, help="Seed a demo workspace and print its sign-in details.")
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=None,
    help="Server processes (default JUSTMAILY_WORKERS, else one per core; 0: one per core).",
)
@config_option
def serve(host: str, port: int, demo: bool, workers: int | None, config_file: Path | None) -> None:
    """Run the API server (database from JUSTMAILY_DATABASE_URL; default SQLite in the data dir).

    Links in sent messages point to this server (http://HOST:PORT, on a loopback host), unless
    JUSTMAILY_PUBLIC_URL names the public address.
    """
    from justmaily.server.metrics.exposition import finish_workers, prepare_workers
    from justmaily.server.workers.supervisor import default_workers

    url = f"http://{_url_host(host)}:{port}"
    settings = _links_to(_settings(config_file), host, port)
    count = (settings.http.workers if workers is None else workers) or default_workers()
    # Before anything imports prometheus-client: the workers' metrics are kept in shared files.
    metrics_folder = prepare_workers() if count > 1 else None
    try:
        _check_ops_files(settings)
        if demo:
            _seed_demo(settings)
        banner = f"JustMaily is serving at {url}  (API: {url}/api, OpenAPI: {url}/schema/openapi.json)"
        if count == 1:
            _serve_alone(settings, host, port, banner)
        else:
            _serve_workers(settings, host, port, count, f"{banner}  [{count} workers]")
    finally:
        if metrics_folder is not None:
            finish_workers(metrics_folder)


def _check_ops_files(settings: Settings) -> None:
    """A malformed SLO or retention file stops the server here, with its line, not in every worker."""
    from justmaily.server.ops.retention_policy import RetentionFileError
    from justmaily.server.ops.slo import SloFileError
    from justmaily.server.services import load_retention, load_slos

    try:
        load_slos(settings)
        load_retention(settings)
    except (SloFileError, RetentionFileError) as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _serve_alone(settings: Settings, host: str, port: int, banner: str) -> None:
    from justmaily.server.app import create_app

    server = _announcing_server(_uvicorn_config(create_app(settings), settings, host, port), banner)
    _freeze_start_up_objects()
    with suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: it could not start (the reason is in the log)


def _serve_workers(settings: Settings, host: str, port: int, count: int, banner: str) -> None:
    """A supervisor and `count` workers (workers/): what each worker would do once at start-up
    (create the key files, migrate) is done here, before they fork."""
    import structlog

    from justmaily.server.app import create_app
    from justmaily.server.http.rate_limit import shared_by
    from justmaily.server.keys.ring import KeyRing
    from justmaily.server.workers.channels import Channels
    from justmaily.server.workers.supervisor import Supervisor, bind
    from justmaily.server.workers.worker import Worker

    KeyRing.load(settings)
    if settings.migrate_on_startup:
        _migrate(settings)
        settings = settings.replaced(auto_migrate=False)
    # Each worker counts failed sign-ins on its own, and a guesser's connections spread over
    # them: each gets its share of the budget, so together they allow what was set.
    identity = settings.identity
    settings = settings.replaced(
        login_failures_per_account_and_ip=shared_by(identity.login_failures_per_account_and_ip, count),
        login_failures_per_ip=shared_by(identity.login_failures_per_ip, count),
    )
    try:
        listener = bind(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc

    def run_worker(listener: socket.socket, channels: Channels, on_started: Callable[[], None]) -> int:
        structlog.contextvars.bind_contextvars(worker=channels.index)
        app = create_app(settings, link=channels)
        worker = Worker(_uvicorn_config(app, settings, host, port), listener, channels, count, on_started)
        _freeze_start_up_objects()
        worker.run()
        return 0 if worker.started else 3

    code = Supervisor(count, listener, run_worker, on_all_ready=lambda: click.echo(banner)).run()
    if code:
        raise SystemExit(code)


def _uvicorn_config(app: Litestar, settings: Settings, host: str, port: int) -> uvicorn.Config:
    import uvicorn

    return uvicorn.Config(
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
        # Rooms are the only WebSockets: each copy of a broadcast would be compressed on its own.
        ws_per_message_deflate=settings.rooms.deflate,
    )


def _freeze_start_up_objects() -> None:
    """Thousands of long-lived connections make each full garbage collection walk millions of
    objects (about a second at 5,000 room connections): collect rarely, and never the start-up
    objects again. Our code makes few reference cycles; memory stays flat in bench/rooms.py."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)


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
            await upgrade_to_head(database.engine, database.settings)
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
    settings = _settings(config_file)
    revision = _migrate(settings)
    click.echo(f"{redact_url(settings.effective_database_url)} is at revision {revision}")


def _migrate(settings: Settings) -> str | None:
    """Bring the schema up to date; the revision it is at."""
    from justmaily.server.db.engine import Database
    from justmaily.server.migrations.migrate import current_revision, upgrade_to_head

    async def go() -> str | None:
        database = Database(settings)
        try:
            await upgrade_to_head(database.engine, database.settings)
            return await current_revision(database.engine)
        finally:
            await database.dispose()

    with _database_errors(settings):
        return _run(go)


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
                await upgrade_to_head(database.engine, database.settings)
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


@cli.group()
def keys() -> None:
    """The key hierarchy: the KEK and each workspace's data keys (docs/data-protection.md)."""


@keys.command("rotate")
@click.option("--kek", is_flag=True, help="Make a new KEK and re-wrap every data key under it.")
@click.option("--workspace", help="Give this workspace (slug) a new data key version.")
@click.option(
    "--purpose",
    type=click.Choice(["data", "index"]),
    default="data",
    show_default=True,
    help="Which of the workspace's keys (with --workspace).",
)
@click.option(
    "--reason", default="rotation from the command line", show_default=True, help="For the audit log."
)
@click.option(
    "--batch", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Keys per transaction."
)
@config_option
def rotate(
    kek: bool, workspace: str | None, purpose: str, reason: str, batch: int, config_file: Path | None
) -> None:
    """Rotate the KEK or a workspace's key while the server runs; run again to resume.

    A KEK rotation re-wraps the data keys batch by batch (each batch one transaction) and
    prints its progress; a run stopped midway resumes with the keys still under the old KEK,
    whose versions stay usable until then.
    """
    from justmaily.server.protection.audit import Actor, record
    from justmaily.server.protection.hierarchy import KeyHierarchy
    from justmaily.server.protection.models import KeyPurpose
    from justmaily.server.protection.providers import KeyProviderError, provider_from

    if kek == (workspace is not None):
        raise click.UsageError("name one of --kek or --workspace")
    if workspace is not None:
        _check(workspace, Slug, "--workspace: 2-63 lower-case letters, digits or dashes")
    settings = _settings(config_file)
    actor = Actor.system("justmaily keys rotate")

    async def go() -> None:
        from sqlalchemy import select

        from justmaily.server.db.engine import Database
        from justmaily.server.identity.models import Workspace

        database = Database(settings)
        try:
            hierarchy = KeyHierarchy(provider_from(settings))
            if workspace is not None:
                async with database.session() as session, session.begin():
                    found = await session.scalar(select(Workspace.id).where(Workspace.slug == workspace))
                    if found is None:
                        raise click.ClickException(f"no workspace {workspace!r}")
                    await hierarchy.keys_of(session, found, actor, reason)  # made if still missing
                    version = await hierarchy.new_version(session, found, KeyPurpose(purpose), actor, reason)
                click.echo(f"{workspace}: {purpose} key v{version} seals from now on")
                return
            async with database.session() as session, session.begin():
                pending = await hierarchy.stale_count(session)
                if pending == 0:  # not resuming: a new KEK
                    version = hierarchy.provider.new_version()
                    await record(
                        session,
                        actor,
                        "kek.create",
                        f"KEK v{version} ({hierarchy.provider.name})",
                        reason=reason,
                    )
                    pending = await hierarchy.stale_count(session)
            version = hierarchy.provider.current_version()
            done = 0
            while True:
                async with database.session() as session, session.begin():
                    moved = await hierarchy.rewrap(session, actor, reason, limit=batch)
                if moved == 0:
                    break
                done += moved
                click.echo(f"re-wrapped {done}/{pending} data keys under KEK v{version}")
            click.echo(f"KEK v{version} wraps every data key")
        finally:
            await database.dispose()

    try:
        with _database_errors(settings):
            _run(go)
    except KeyProviderError as exc:
        raise click.ClickException(str(exc)) from None


@cli.group()
def ops() -> None:
    """Operations: the Prometheus rules generated from the SLO file."""


@ops.command("rules")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("deploy/prometheus"),
    show_default=True,
    help="Folder for rules.yml and rules.test.yml",
)
@click.option(
    "--slo-file", type=click.Path(path_type=Path, dir_okay=False), help="Default: the shipped slos.toml"
)
@click.option(
    "--runbook-base",
    default="deploy/runbooks/alerts/",
    show_default=True,
    help="Where the alerts' runbooks are (a URL where your runbooks are published)",
)
def ops_rules(out: Path, slo_file: Path | None, runbook_base: str) -> None:
    """Write the recording and alerting rules (multi-window, multi-burn-rate) and their
    `promtool test rules` tests, generated from the SLO file."""
    from justmaily.server.ops import rules, slo

    try:
        slos = slo.load(slo_file)
    except slo.SloFileError as exc:
        raise click.ClickException(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.yml").write_text(rules.as_yaml(rules.rules(slos, runbook_base)), "utf-8")
    (out / "rules.test.yml").write_text(
        rules.as_yaml(rules.rule_tests(slos, "rules.yml", runbook_base)), "utf-8"
    )
    click.echo(f"wrote {out / 'rules.yml'} and {out / 'rules.test.yml'} ({len(slos.slo)} objectives)")


@ops.command("purge")
@config_option
def ops_purge(config_file: Path | None) -> None:
    """Run the purges that are due now (the server runs them once a day by itself); resumes one
    a crash interrupted. Respects legal holds."""
    from justmaily.server.db.engine import Database
    from justmaily.server.ops.retention import Purger
    from justmaily.server.services import load_retention

    settings = _settings(config_file)

    async def go() -> dict[str, int]:
        database = Database(settings)
        try:
            return await Purger(database, load_retention(settings)).purge_due()
        finally:
            await database.dispose()

    with _database_errors(settings):
        done = _run(go)
    if not done:
        click.echo("no purge is due (each kind is purged once a day)")
    for kind, deleted in done.items():
        click.echo(f"{kind}: {deleted} records deleted")


@cli.command("backup")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="The backup file to write"
)
@config_option
def backup_command(out: Path, config_file: Path | None) -> None:
    """A consistent, encrypted snapshot of the database (SQLite or PostgreSQL), taken while the
    server runs; sealed with the backup key (JUSTMAILY_BACKUP_KEY_FILE, default
    data_dir/backup.key): keep a copy of it apart from the backups."""
    from justmaily.server.keys.files import random_key
    from justmaily.server.ops.backup import BackupError, backup

    settings = _settings(config_file)
    key = random_key(settings.backup_key_path)
    started = time.perf_counter()
    try:
        with _database_errors(settings):
            manifest = _run(lambda: backup(settings, out.resolve(), key, progress=click.echo))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"wrote {out} ({out.stat().st_size:,} bytes, schema {manifest['schema_revision']}, "
        f"log of {manifest['log_size']} entries checked) in {time.perf_counter() - started:.1f} s"
    )


@cli.command("restore")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--replace", is_flag=True, help="Restore over an existing database (stop the servers first)")
@config_option
def restore_command(source: Path, replace: bool, config_file: Path | None) -> None:
    """Restore a backup into the configured database: refused, with nothing changed on SQLite,
    if the file does not authenticate with the backup key or its transparency log fails its check."""
    from justmaily.server.ops.archive import ArchiveError
    from justmaily.server.ops.backup import BackupError, restore

    settings = _settings(config_file)
    if not settings.backup_key_path.exists():
        raise click.ClickException(f"no backup key at {settings.backup_key_path} (JUSTMAILY_BACKUP_KEY_FILE)")
    key = settings.backup_key_path.read_bytes()
    started = time.perf_counter()
    try:
        with _database_errors(settings):
            report = _run(lambda: restore(settings, source, key, replace=replace, progress=click.echo))
    except (ArchiveError, BackupError) as exc:
        raise click.ClickException(f"restore refused: {exc}") from None
    click.echo(
        f"restored the backup of {report['created_at']} (schema {report['schema_revision']}; "
        f"{report['log_entries_checked']} log entries match their signed tree head) "
        f"in {time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
