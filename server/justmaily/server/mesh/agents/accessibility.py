"""Accessibility: images without alt text, text contrast below WCAG AA (4.5:1), headings that
skip levels, links that say only "click here", and a plain-text part to fall back on."""

from __future__ import annotations

import re

from justmaily.server.mesh.agents import html_parts
from justmaily.server.mesh.agents.contrast import colours, low_contrast, ratio
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentReport, Finding, Severity

WCAG_AA = 4.5  # normal text; large text needs 3:1, which this check does not tell apart
_VAGUE = re.compile(
    r"^(?:click here|click|here|read more|more|link|this link|learn more|go)[.!]?$", re.IGNORECASE
)


def analyse(email: Email) -> AgentReport:
    parts = html_parts.read(email.html)
    findings: list[Finding] = []
    for image in parts.images:
        if image.get("alt") is None:
            findings.append(
                Finding(
                    rule="IMG_NO_ALT",
                    severity=Severity.ERROR,
                    message=(
                        "an image has no alt text: screen readers read its file name, "
                        "blocked images show nothing"
                    ),
                    where=(image.get("src") or "")[:80],
                )
            )
    for element in low_contrast(parts, WCAG_AA):
        text, background = colours(element.inherited_style)
        measured = ratio(text, background) or 0.0
        findings.append(
            Finding(
                rule="LOW_CONTRAST",
                severity=Severity.ERROR if measured < 3.0 else Severity.WARNING,
                message=f"{text} on {background}: contrast {measured:.2f}:1, below WCAG AA ({WCAG_AA}:1)",
                score=round(measured, 2),
                where=element.text[:80],
            )
        )
    previous = 0
    for level, title in parts.headings:
        if previous and level > previous + 1:
            findings.append(
                Finding(
                    rule="HEADING_SKIPS_LEVEL",
                    severity=Severity.WARNING,
                    message=f"heading level {level} follows level {previous}: screen-reader outlines skip",
                    where=title[:80],
                )
            )
        previous = level
    for link in parts.links:
        if _VAGUE.match(link.text.strip()):
            findings.append(
                Finding(
                    rule="VAGUE_LINK_TEXT",
                    severity=Severity.WARNING,
                    message=f'link text "{link.text.strip()}" says nothing out of context',
                    where=(link.href or "")[:80],
                )
            )
    if not email.text.strip():
        findings.append(
            Finding(
                rule="NO_PLAIN_TEXT",
                severity=Severity.ERROR,
                message="no plain-text part: text-only clients and some screen readers get nothing",
            )
        )
    return AgentReport(
        findings=findings,
        metrics={"images": len(parts.images), "headings": len(parts.headings), "links": len(parts.links)},
    )
