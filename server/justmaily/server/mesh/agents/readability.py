"""Readability of the plain-text part (textstat, pinned: docs/mesh.md): Flesch reading ease,
the Flesch-Kincaid grade, and long sentences."""

from __future__ import annotations

import re

import textstat

from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentReport, Finding, Severity

HARD_GRADE = 10.0  # more school years than most newsletters' readers give a marketing e-mail
LONG_SENTENCE_WORDS = 30
_MERGE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_URL = re.compile(r"https?://\S+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def prose(text: str) -> str:
    """The text as people read it: no merge-field syntax, no bare addresses, no Markdown marks."""
    text = _URL.sub("", _MERGE.sub("name", text))
    return re.sub(r"[#*_>`\[\]()]+", " ", text)


def analyse(email: Email) -> AgentReport:
    text = prose(email.text)
    words = textstat.lexicon_count(text)
    if words < 3:
        return AgentReport(metrics={"words": words})
    ease = float(textstat.flesch_reading_ease(text))
    grade = float(textstat.flesch_kincaid_grade(text))
    findings: list[Finding] = []
    if grade > HARD_GRADE:
        findings.append(
            Finding(
                rule="HARD_TO_READ",
                severity=Severity.WARNING,
                message=f"reads at school grade {grade:.1f} (Flesch reading ease {ease:.0f})",
                score=round(grade, 1),
            )
        )
    for sentence in _SENTENCE.split(text):
        count = len(sentence.split())
        if count > LONG_SENTENCE_WORDS:
            findings.append(
                Finding(
                    rule="LONG_SENTENCE",
                    severity=Severity.INFO,
                    message=f"a sentence of {count} words",
                    where=" ".join(sentence.split()[:12]) + " …",
                )
            )
    return AgentReport(
        findings=findings,
        metrics={
            "words": words,
            "sentences": int(textstat.sentence_count(text)),
            "flesch_reading_ease": round(ease, 1),
            "flesch_kincaid_grade": round(grade, 1),
        },
    )
