"""The server's own alerts: the generated rules' burn-rate conditions (slo.BURN_ALERTS), judged
from the stored indicator counts, reach the owners by e-mail and a webhook.

Every process judges every `alert_check_seconds`; an alert episode (objective and severity,
from firing to resolved) is a row with one open row per pair (a unique index), so among all
processes and replicas exactly one opens it and notifies "firing", and exactly one closes it
and notifies "resolved". Notifications go after the commit, at most once: a crash in between
loses that one (Prometheus and Alertmanager, deploy/prometheus/, are the redundant path).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import anyio
import structlog
from sqlalchemy import select, update
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from justmaily.server.db.base import new_id
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Membership, User
from justmaily.server.ops.models import AlertEpisode
from justmaily.server.ops.service import OpsService
from justmaily.server.ops.slo import SloFile
from justmaily.server.settings import Settings
from justmaily.server.settings.relay_urls import parse_relay_list
from justmaily.shared.roles import Role

log = structlog.get_logger(__name__)
_WEBHOOK_TIMEOUT = 10.0


@dataclass(frozen=True)
class Notice:
    slo: str
    severity: str
    state: str  # "firing" or "resolved"
    at: datetime
    summary: str


class Alerter:
    def __init__(self, database: Database, settings: Settings, slos: SloFile) -> None:
        self.database, self.settings, self.slos = database, settings, slos
        self._stopping = anyio.Event()
        self._stopped = anyio.Event()

    async def run(self) -> None:
        try:
            while True:
                with anyio.move_on_after(self.settings.ops.alert_check_seconds):
                    await self._stopping.wait()
                if self._stopping.is_set():
                    break
                try:
                    await self.evaluate()
                except Exception:
                    log.exception("ops_alerts_failed")
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stopped.wait()

    async def evaluate(self, now: float | None = None) -> list[Notice]:
        """Open and close episodes by what fires now; notify what this process opened or closed."""
        now = time.time() if now is None else now
        when = datetime.fromtimestamp(now, UTC)
        async with self.database.session(read_only=True) as session:
            report = await OpsService(session, self.slos).slo_report(now)
        firing = {(o.name, severity): o.description for o in report.objectives for severity in o.alerts}
        notices = []
        async with self.database.session() as session, session.begin():
            for (slo, severity), description in sorted(firing.items()):
                opened = await session.execute(
                    insert_or_ignore(session, AlertEpisode).values(
                        id=new_id(), slo=slo, severity=severity, fired_at=when
                    )
                )
                if opened.rowcount == 1:  # type: ignore[attr-defined]
                    notices.append(Notice(slo, severity, "firing", when, description))
            open_episodes = await session.scalars(
                select(AlertEpisode).where(AlertEpisode.resolved_at.is_(None))
            )
            for episode in list(open_episodes):
                if (episode.slo, episode.severity) in firing:
                    continue
                closed = await session.execute(
                    update(AlertEpisode)
                    .where(AlertEpisode.id == episode.id, AlertEpisode.resolved_at.is_(None))
                    .values(resolved_at=when)
                )
                if closed.rowcount == 1:  # type: ignore[attr-defined]
                    notices.append(Notice(episode.slo, episode.severity, "resolved", when, episode.slo))
        for notice in notices:
            log.warning("ops_alert", slo=notice.slo, severity=notice.severity, state=notice.state)
            await self._notify(notice)
        return notices

    async def _notify(self, notice: Notice) -> None:
        for channel in (self._mail, self._webhook):
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=5), reraise=True
                ):
                    with attempt:
                        await channel(notice)
            except Exception as exc:
                log.error("ops_alert_not_delivered", channel=channel.__name__.strip("_"), error=str(exc))

    async def _recipients(self) -> list[str]:
        if self.settings.ops.alert_emails:
            return [a.strip() for a in self.settings.ops.alert_emails.split(",") if a.strip()]
        async with self.database.session(read_only=True) as session:
            owners = await session.scalars(
                select(User.email)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.role == Role.OWNER)
            )
            return sorted(set(owners))

    async def _mail(self, notice: Notice) -> None:
        relays = (
            parse_relay_list(self.settings.delivery.smtp_relays) if self.settings.delivery.smtp_relays else []
        )
        recipients = await self._recipients()
        if not relays or not recipients:
            return  # nothing to send through, or to: the log line above remains
        relay = relays[0]
        message = EmailMessage()
        message["From"] = self.settings.ops.alert_from
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"[JustMaily {notice.severity}] {notice.slo}: {notice.state}"
        message.set_content(_text(notice, self.settings.public_url))
        await aiosmtplib.send(
            message,
            hostname=relay.host,
            port=relay.port,
            username=relay.username or None,
            password=relay.password or None,
            use_tls=relay.implicit_tls,
            timeout=self.settings.delivery.smtp_timeout_seconds,
        )

    async def _webhook(self, notice: Notice) -> None:
        url = self.settings.ops.alert_webhook_url
        if not url:
            return
        body = json.dumps(
            {
                "slo": notice.slo,
                "severity": notice.severity,
                "state": notice.state,
                "at": notice.at.isoformat(),
                "summary": notice.summary,
                "report": f"{self.settings.public_url.rstrip('/')}/api/ops/slo",
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's own URL (http or https)
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        await asyncio.to_thread(_post, request)


def _post(request: urllib.request.Request) -> None:
    with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"the webhook answered {response.status}")


def _text(notice: Notice, public_url: str) -> str:
    what = "is burning its error budget too fast" if notice.state == "firing" else "is back within its budget"
    return (
        f"The objective '{notice.slo}' ({notice.summary}) {what} ({notice.severity}), "
        f"as of {notice.at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Compliance and burn rates: {public_url.rstrip('/')}/api/ops/slo\n"
        "What to do: deploy/runbooks/alerts/ in the JustMaily distribution.\n"
    )
