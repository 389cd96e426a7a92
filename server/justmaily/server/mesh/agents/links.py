"""Links: malformed ones, insecure (http://) ones, visible text naming another place than the
link goes to (what phishing does, and what filters punish), and an unsubscribe link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from justmaily.server.mesh.agents import html_parts
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentReport, Finding, Severity

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)  # personalised: checked when sent
_HOSTLIKE = re.compile(r"^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(
    r"unsubscribe|opt[ -]?out|abmelden|désinscri|desinscri|_unsubscribe_url", re.IGNORECASE
)
_OTHER_SCHEMES = frozenset({"mailto", "tel", "sms"})


def _malformed(href: str) -> str | None:  # noqa: PLR0911 — one answer per way to be wrong
    """Why `href` is no link a mail client can open, or None."""
    if not href.strip():
        return "is empty"
    if re.search(r"\s", href.strip()):
        return "contains spaces"
    try:
        parts = urlsplit(href.strip())
        parts.port  # noqa: B018 — a bad port raises only when read
    except ValueError as exc:
        return f"does not parse ({exc})"
    if parts.scheme in _OTHER_SCHEMES:
        return None if parts.path else "names nobody"
    if parts.scheme not in ("http", "https"):
        return "has no http(s) scheme" if not parts.scheme else f"uses the {parts.scheme}: scheme"
    if not parts.hostname or "." not in parts.hostname.strip("."):
        return "has no host name"
    return None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def analyse(email: Email) -> AgentReport:
    parts = html_parts.read(email.html)
    findings: list[Finding] = []
    checked = 0
    for link in parts.links:
        href = (link.href or "").strip()
        if _TEMPLATE.search(href):
            continue
        checked += 1
        problem = _malformed(href)
        if problem is not None:
            findings.append(
                Finding(
                    rule="LINK_MALFORMED",
                    severity=Severity.ERROR,
                    message=f"a link {problem}",
                    where=href[:80],
                )
            )
            continue
        if urlsplit(href).scheme == "http":
            findings.append(
                Finding(
                    rule="LINK_INSECURE",
                    severity=Severity.WARNING,
                    message="a link uses http://, not https://: browsers warn, and it can be tampered with",
                    where=href[:80],
                )
            )
        shown = _HOSTLIKE.match(link.text.strip())
        if shown and urlsplit(href).scheme in ("http", "https"):
            named = shown.group(1).lower().removeprefix("www.")
            target = _host(href)
            if named != target and not target.endswith("." + named):
                findings.append(
                    Finding(
                        rule="LINK_TEXT_MISMATCH",
                        severity=Severity.ERROR,
                        message=f"the link reads {named} but opens {target}: it looks like phishing",
                        where=href[:80],
                    )
                )
    unsubscribe = email.unsubscribe_added or any(
        _UNSUBSCRIBE.search(link.text) or _UNSUBSCRIBE.search(link.href or "") for link in parts.links
    )
    if not unsubscribe:
        findings.append(
            Finding(
                rule="NO_UNSUBSCRIBE_LINK",
                severity=Severity.ERROR,
                message="no unsubscribe link: bulk mail needs one (RFC 8058; Gmail's and Yahoo's rules)",
            )
        )
    return AgentReport(
        findings=findings,
        metrics={"links": len(parts.links), "checked": checked, "unsubscribe": unsubscribe},
    )
