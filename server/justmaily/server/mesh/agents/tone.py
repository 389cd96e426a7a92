"""Tone (VADER, offline, English): how positive or negative the e-mail reads, and shouting —
many exclamation marks or words in capitals, which readers and filters both dislike."""

from __future__ import annotations

import functools
import re

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.agents.readability import prose
from justmaily.shared.mesh import AgentReport, Finding, Severity

NEGATIVE = -0.5  # VADER's compound score: -1 most negative .. +1 most positive
EXCLAMATIONS = 3
_SHOUTED = re.compile(r"\b[A-Z]{4,}\b")


@functools.cache
def _analyser() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _label(compound: float) -> str:
    # VADER's own thresholds for positive, neutral and negative.
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def analyse(email: Email) -> AgentReport:
    text = prose(f"{email.subject}\n{email.text}")
    compound = float(_analyser().polarity_scores(text)["compound"])
    findings: list[Finding] = []
    if compound <= NEGATIVE:
        findings.append(
            Finding(
                rule="NEGATIVE_TONE",
                severity=Severity.WARNING,
                message=f"reads as negative (VADER {compound:+.2f})",
                score=round(compound, 3),
            )
        )
    exclamations = text.count("!")
    if exclamations > EXCLAMATIONS:
        findings.append(
            Finding(
                rule="MANY_EXCLAMATIONS",
                severity=Severity.WARNING,
                message=f"{exclamations} exclamation marks",
            )
        )
    shouted = _SHOUTED.findall(text)
    if len(shouted) >= 3:
        findings.append(
            Finding(
                rule="SHOUTING",
                severity=Severity.WARNING,
                message=f"{len(shouted)} words in capitals",
                where=" ".join(shouted[:5]),
            )
        )
    return AgentReport(findings=findings, metrics={"compound": round(compound, 3), "tone": _label(compound)})
