"""Merge fields: every `{{ field }}` of the subject, preheader and body is one some contact of the
audience has, or carries a fallback (`{{ field | default("…") }}`); otherwise some recipient gets
an empty gap, and sending refuses the content (delivery/personalise.py says the same at send)."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from justmaily.server.delivery.personalise import BUILTIN_FIELDS
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentReport, Finding, Severity

_ENV = SandboxedEnvironment()  # parsing only: nothing is rendered here
_FALLBACK_FILTERS = frozenset({"default", "d"})
_INTERNAL = frozenset({"_click", "_unsubscribe_url", "_open_url"})


def _fields(source: str) -> tuple[set[str], set[str]]:
    """The names `source` reads: (every one, those with a fallback at every use)."""
    tree = _ENV.parse(source)
    used: set[str] = set()
    bare: set[str] = set()
    covered: set[int] = set()
    for node in tree.find_all(nodes.Filter):
        if node.name in _FALLBACK_FILTERS and isinstance(node.node, nodes.Name):
            covered.add(id(node.node))
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load":
            continue
        used.add(name.name)
        if id(name) not in covered:
            bare.add(name.name)
    return used, used - bare


def analyse(email: Email) -> AgentReport:
    known = BUILTIN_FIELDS | (email.known_fields or frozenset())
    findings: list[Finding] = []
    used_all: set[str] = set()
    for part, source in (("subject", email.subject), ("preheader", email.preheader), ("body", email.body)):
        try:
            used, with_fallback = _fields(source)
        except TemplateSyntaxError as exc:
            findings.append(
                Finding(
                    rule="TEMPLATE_ERROR",
                    severity=Severity.ERROR,
                    message=f"{part}: template error on line {exc.lineno}: {exc.message}",
                )
            )
            continue
        used -= _INTERNAL
        used_all |= used
        for field in sorted(used - known):
            if field in with_fallback:
                findings.append(
                    Finding(
                        rule="FIELD_FALLBACK_ONLY",
                        severity=Severity.INFO,
                        message=f"{part}: no contact has {field}; everyone gets its fallback",
                        where=field,
                    )
                )
            elif email.known_fields is None:
                findings.append(
                    Finding(
                        rule="FIELD_UNCHECKED",
                        severity=Severity.WARNING,
                        message=f"{part}: {field} could not be checked against the audience; add a fallback",
                        where=field,
                    )
                )
            else:
                findings.append(
                    Finding(
                        rule="FIELD_UNKNOWN",
                        severity=Severity.ERROR,
                        message=f'{part}: no contact has {field}: write {{{{ {field} | default("…") }}}}',
                        where=field,
                    )
                )
    return AgentReport(findings=findings, metrics={"fields": sorted(used_all)})
