"""Spam and deliverability: a documented table of SpamAssassin rules, each with its name, its
score and what it means, applied to the e-mail offline (no SpamAssassin needed at run time).

Names, patterns and descriptions are SpamAssassin 4's (Debian's `spamassassin` package,
/usr/share/spamassassin); scores are its first column, the one for local tests without
network or Bayes, which is how this agent runs. SpamAssassin's default threshold is 5.0.
The "eval" rules (SUBJ_ALL_CAPS, HTML_IMAGE_ONLY_*, UPPERCASE_75_100, HTML_FONT_LOW_CONTRAST)
are re-implemented from what their descriptions and Perl code say; docs/mesh.md has the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from justmaily.server.mesh.agents import html_parts
from justmaily.server.mesh.agents.contrast import low_contrast
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentReport, Finding, Severity

THRESHOLD = 5.0  # SpamAssassin's `required_score`


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    score: float
    description: str
    hit: Callable[[Email], str | None]  # what it matched (for people), or None


def _body(pattern: str, flags: int = re.IGNORECASE) -> Callable[[Email], str | None]:
    compiled = re.compile(pattern, flags)

    def hit(email: Email) -> str | None:
        found = compiled.search(email.text)
        return found.group(0) if found else None

    return hit


def _subject(pattern: str, flags: int = re.IGNORECASE) -> Callable[[Email], str | None]:
    compiled = re.compile(pattern, flags)

    def hit(email: Email) -> str | None:
        found = compiled.search(email.subject)
        return found.group(0) if found else None

    return hit


def _subject_all_caps(email: Email) -> str | None:
    # SpamAssassin: at least one word of letters, all upper case, and more than one letter.
    letters = [c for c in email.subject if c.isalpha()]
    if (
        len(letters) > 1
        and re.search(r"[A-Za-z]{2,}", email.subject)
        and email.subject.upper() == email.subject
    ):
        return email.subject
    return None


def _missing_subject(email: Email) -> str | None:
    return "(empty)" if not email.subject.strip() else None


def _empty_message(email: Email) -> str | None:
    return "(empty)" if not email.text.strip() and not html_parts.read(email.html).styled_text else None


def _uppercase(email: Email) -> str | None:
    # SpamAssassin counts letters of the body once it has 200 or more.
    letters = [c for c in email.text if c.isalpha()]
    if len(letters) < 200:
        return None
    share = sum(c.isupper() for c in letters) / len(letters)
    return f"{share:.0%} upper case" if share >= 0.75 else None


def _image_only(low: int, high: int) -> Callable[[Email], str | None]:
    # Images in the HTML part with only `low`-`high` bytes of words around them.
    def hit(email: Email) -> str | None:
        parts = html_parts.read(email.html)
        if not parts.images:
            return None
        words = sum(len(element.text.encode()) for element in parts.styled_text)
        return f"{len(parts.images)} images, {words} bytes of text" if low < words <= high else None

    return hit


def _link_to_ip(email: Email) -> str | None:
    private = re.compile(r"^(?:10|127|169\.254|172\.(?:1[6-9]|2\d|3[01])|192\.168)\.")
    for link in html_parts.read(email.html).links:
        found = re.match(r"^https?://(\d+\.\d+\.\d+\.\d+)\b(?![.-])", link.href or "", re.IGNORECASE)
        if found and not private.match(found.group(1)):
            return link.href
    return None


def _novowel_host(email: Email) -> str | None:
    pattern = re.compile(r"^https?://[^/?&#]*[bcdfgjklmnpqrstvwxz]{7}", re.IGNORECASE)
    return next(
        (link.href for link in html_parts.read(email.html).links if pattern.match(link.href or "")), None
    )


def _low_contrast(email: Email) -> str | None:
    worst = low_contrast(html_parts.read(email.html), minimum=1.5)
    return worst[0].text[:60] if worst else None


# The table (docs/mesh.md repeats it). Order: as people read an e-mail — subject, body, links.
RULES: tuple[Rule, ...] = (
    Rule("MISSING_SUBJECT", 0.001, "Missing Subject: header", _missing_subject),
    Rule("SUBJ_ALL_CAPS", 0.5, "Subject is all capitals", _subject_all_caps),
    Rule("SUBJ_DOLLARS", 0.1, "Subject starts with dollar amount", _subject(r"^\$[0-9.,]+\b", 0)),
    Rule("SUBJ_BUY", 0.594, "Subject line starts with Buy or Buying", _subject(r"^buy")),
    Rule("SUBJ_AS_SEEN", 2.711, 'Subject contains "As Seen"', _subject(r"\bAs Seen")),
    Rule(
        "GAPPY_SUBJECT",
        0.1,
        "Subject: contains G.a.p.p.y-T.e.x.t",
        _subject(r"\b(?:[a-z]([-_. =~/:,*!@#$%^&+;\"'<>\\])\1{0,2}){4}"),
    ),
    Rule("EMPTY_MESSAGE", 2.195, "Message appears to have no textual parts", _empty_message),
    Rule("UPPERCASE_75_100", 1.48, "message body is 75-100% uppercase", _uppercase),
    Rule(
        "DEAR_FRIEND", 2.683, "Dear Friend? That's not very dear!", _body(r"^\s*Dear Friend\b", re.I | re.M)
    ),
    Rule(
        "DEAR_SOMETHING",
        1.999,
        "Contains 'Dear (something)'",
        _body(r"\bDear (?:IT\W|Internet|candidate|sirs?|madam|investor|travell?er|car shopper|web)\b"),
    ),
    Rule("MONEY_BACK", 2.91, "Money back guarantee", _body(r"money back guarantee")),
    Rule("GUARANTEED_100_PERCENT", 2.699, "One hundred percent guaranteed", _body(r"100% GUARANTEED")),
    Rule(
        "FREE_QUOTE_INSTANT",
        2.7,
        "Free express or no-obligation quote",
        _body(r"free.{0,12}(?:(?:instant|express|online|no.?obligation).{0,4})+.{0,32}\bquote"),
    ),
    Rule("EXCUSE_4", 2.399, "Claims you can be removed from the list", _body(r"To Be Removed,? Please")),
    Rule("ACT_NOW_CAPS", 0.1, "Talks about 'acting now' with capitals", _body(r"\bA(?i:ct) N(?i:ow)\b", 0)),
    Rule(
        "PERCENT_RANDOM", 2.999, "Message has a random macro in it", _body(r"%RA?ND(?:OM)?(?:_|\b|[A-Z]{3})")
    ),
    Rule("HTML_IMAGE_ONLY_08", 0.585, "HTML: images with 400-800 bytes of words", _image_only(400, 800)),
    Rule("HTML_IMAGE_ONLY_16", 1.969, "HTML: images with 1200-1600 bytes of words", _image_only(1200, 1600)),
    Rule("HTML_IMAGE_ONLY_24", 2.799, "HTML: images with 2000-2400 bytes of words", _image_only(2000, 2400)),
    Rule(
        "HTML_FONT_LOW_CONTRAST", 0.713, "HTML font color similar or identical to background", _low_contrast
    ),
    Rule("NORMAL_HTTP_TO_IP", 0.159, "URI host has a public dotted-decimal IPv4 address", _link_to_ip),
    Rule("URI_NOVOWEL", 0.5, "URI hostname has long non-vowel sequence", _novowel_host),
)
# The rule table of SpamAssassin's smallest images-only bands (0-400 bytes) scores 0 or almost,
# so it is left out; so are rules that need headers only a relay adds (SPF, DKIM, DNSBLs).


def analyse(email: Email) -> AgentReport:
    findings: list[Finding] = []
    for rule in RULES:
        matched = rule.hit(email)
        if matched is not None:
            findings.append(
                Finding(
                    rule=rule.name,
                    severity=Severity.WARNING if rule.score >= 1.0 else Severity.INFO,
                    message=rule.description,
                    score=rule.score,
                    where=matched[:80],
                )
            )
    score = round(sum(f.score or 0.0 for f in findings), 3)
    if score >= THRESHOLD:
        findings.insert(
            0,
            Finding(
                rule="SPAM_SCORE",
                severity=Severity.ERROR,
                message=f"scores {score} by SpamAssassin's rules; {THRESHOLD} marks spam",
                score=score,
            ),
        )
    return AgentReport(
        findings=findings, metrics={"score": score, "threshold": THRESHOLD, "spam": score >= THRESHOLD}
    )
