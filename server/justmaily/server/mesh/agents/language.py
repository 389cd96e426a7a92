"""Language detection (py3langid, 139 languages, offline): the body's language and the subject's,
and whether they differ (a subject in one language over a body in another confuses readers and
filters alike)."""

from __future__ import annotations

import functools
from typing import Any

from py3langid import langid

from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.agents.readability import prose
from justmaily.shared.mesh import AgentReport, Finding, Severity

MIN_WORDS = 4  # fewer words are no evidence of a language
CONFIDENT = 0.9


@functools.cache
def _identifier() -> Any:
    # Loaded once per process (4.6 MB model), the first time a text is classified.
    return langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, float] | None:
    """(ISO 639-1 code, probability), or None for too little text."""
    if len(text.split()) < MIN_WORDS:
        return None
    language, probability = _identifier().classify(text)
    return str(language), float(probability)


def analyse(email: Email) -> AgentReport:
    body = detect(prose(email.text))
    subject = detect(prose(email.subject))
    metrics: dict[str, Any] = {}
    findings: list[Finding] = []
    if body is None:
        findings.append(
            Finding(rule="TOO_SHORT", severity=Severity.INFO, message="too little text to tell the language")
        )
    else:
        metrics |= {"language": body[0], "confidence": round(body[1], 3)}
    if subject is not None:
        metrics["subject_language"] = subject[0]
    if (
        body is not None
        and subject is not None
        and subject[0] != body[0]
        and min(body[1], subject[1]) >= CONFIDENT
    ):
        findings.append(
            Finding(
                rule="SUBJECT_LANGUAGE_DIFFERS",
                severity=Severity.WARNING,
                message=f"the subject reads as {subject[0]}, the body as {body[0]}",
            )
        )
    return AgentReport(findings=findings, metrics=metrics)
