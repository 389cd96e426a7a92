"""Each offline agent on real e-mail text: what it finds, and what it leaves alone."""

from __future__ import annotations

import re
import time
from pathlib import Path

import msgspec

from justmaily.server.mesh.agents import accessibility, language, links, merge_fields, readability, spam, tone
from justmaily.server.mesh.agents.catalogue import KINDS, card
from justmaily.server.mesh.agents.email import MAX_CHARACTERS, Email
from justmaily.shared.mesh import AgentCard, AgentKind, Finding

NEWSLETTER = {
    "subject": "Your December garden notes",
    "preheader": "Frost is coming: three jobs for this weekend",
    "sender": "Greenfingers <notes@greenfingers.example>",
    "body": (
        "# December in the garden\n\n"
        "Hello {{ first_name | default('gardener') }},\n\n"
        "Frost arrives early this year. Wrap your potted olive trees in fleece, lift the dahlias "
        "before the ground freezes, and give the birds fresh water every morning.\n\n"
        "## What to plant\n\n"
        "Garlic goes in now. Push each clove a finger deep, pointed end up, and forget about it "
        "until spring.\n\n"
        "Read [our winter planting guide](https://greenfingers.example/guides/winter) for more.\n"
    ),
}
SPAM = {
    "subject": "BUY NOW: AS SEEN ON TV",
    "preheader": "",
    "sender": "",
    "body": (
        "Dear Friend,\n\nThis offer comes with a money back guarantee and it is 100% GUARANTEED. "
        "Act Now! To be removed, please reply.\n"
    ),
}


def rules(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


def test_a_plain_newsletter_passes_every_agent() -> None:
    email = Email.of(NEWSLETTER, known_fields=frozenset())
    for spec in KINDS.values():
        report = spec.analyse(email)
        assert [f for f in report.findings if f.severity != "info"] == [], spec.kind


def test_spam_rules_add_up_to_spamassassins_scores() -> None:
    report = spam.analyse(Email.of(SPAM))
    hit = set(rules(report.findings))
    assert {"SUBJ_ALL_CAPS", "SUBJ_BUY", "SUBJ_AS_SEEN", "DEAR_FRIEND", "MONEY_BACK"} <= hit
    assert {"GUARANTEED_100_PERCENT", "EXCUSE_4", "ACT_NOW_CAPS", "SPAM_SCORE"} <= hit
    expected = sum(rule.score for rule in spam.RULES if rule.name in hit)
    assert report.metrics["score"] == round(expected, 3)
    assert report.metrics["spam"] is True
    assert spam.analyse(Email.of(NEWSLETTER)).metrics["score"] == 0.0


def test_spam_rules_on_html_email() -> None:
    html = (
        '<html><body><p style="color:#fefefe;background-color:#ffffff">hidden words</p>'
        '<a href="http://203.0.113.7/win">win</a><img src="https://x.example/big.png" alt="big">'
        "</body></html>"
    )
    hit = rules(spam.analyse(Email.raw(subject="Hello there", html=html, text="hidden words")).findings)
    assert "HTML_FONT_LOW_CONTRAST" in hit
    assert "NORMAL_HTTP_TO_IP" in hit
    # A private address is no public IP (SpamAssassin's pattern excludes them).
    private = '<a href="http://192.168.1.2/">x</a>'
    assert "NORMAL_HTTP_TO_IP" not in rules(
        spam.analyse(Email.raw(subject="Hi", html=private, text="x")).findings
    )


def test_readability_scores_and_flags_hard_prose() -> None:
    easy = readability.analyse(Email.of(NEWSLETTER))
    assert easy.metrics["flesch_reading_ease"] > 60
    hard_text = (
        "Notwithstanding the aforementioned considerations, organisational stakeholders should "
        "systematically operationalise comprehensive interdisciplinary methodologies, thereby "
        "facilitating unprecedented institutional accountability, notwithstanding considerable "
        "implementation complexities and jurisdictional heterogeneity across administrative "
        "boundaries, regional authorities and constitutional frameworks."
    )
    hard = readability.analyse(Email.raw(subject="x", html="", text=hard_text))
    assert "HARD_TO_READ" in rules(hard.findings)
    assert "LONG_SENTENCE" in rules(hard.findings)
    assert hard.metrics["flesch_kincaid_grade"] > 15


def test_tone_hears_negative_and_shouting() -> None:
    assert tone.analyse(Email.of(NEWSLETTER)).metrics["tone"] in {"positive", "neutral"}
    angry = "We are furious. Your account is terrible, awful and broken. This is the worst failure ever."
    report = tone.analyse(Email.raw(subject="Bad news", text=angry))
    assert report.metrics["tone"] == "negative"
    assert "NEGATIVE_TONE" in rules(report.findings)
    shouting = tone.analyse(Email.raw(subject="SALE", text="HUGE SAVINGS TODAY ONLY!!!! BUY THIS NOW!!"))
    assert {"SHOUTING", "MANY_EXCLAMATIONS"} <= set(rules(shouting.findings))


def test_language_of_body_and_subject() -> None:
    german = Email.raw(
        subject="Unser Newsletter für den Winter",
        text="Liebe Kundinnen und Kunden, in diesem Monat haben wir neue Produkte für Sie ausgewählt.",
    )
    assert language.analyse(german).metrics["language"] == "de"
    mixed = Email.raw(
        subject="Notre lettre d'information de l'hiver",
        text="Dear customers, this month we picked new products for you and your family.",
    )
    report = language.analyse(mixed)
    assert report.metrics["language"] == "en"
    assert report.metrics["subject_language"] == "fr"
    assert "SUBJECT_LANGUAGE_DIFFERS" in rules(report.findings)
    assert "TOO_SHORT" in rules(language.analyse(Email.raw(subject="Hi", text="Hi")).findings)


def test_links_malformed_insecure_mismatched_and_unsubscribe() -> None:
    html = (
        '<p><a href="http://shop.example.com/offer">offer</a> '
        '<a href="https://evil.example.net/login">www.mybank.example</a> '
        '<a href="https://mybank.example/login">mybank.example</a> '
        '<a href="https://login.mybank.example/">mybank.example</a> '
        '<a href="htps//broken">broken</a> <a href="https://exa mple.com">spaced</a> '
        '<a href="{{ profile_url }}">your profile</a> <a href="mailto:help@mybank.example">help</a></p>'
    )
    report = links.analyse(Email.raw(subject="x", html=html, text="x"))
    found = [(f.rule, f.where) for f in report.findings]
    assert ("LINK_INSECURE", "http://shop.example.com/offer") in found
    assert ("LINK_TEXT_MISMATCH", "https://evil.example.net/login") in found
    assert sum(rule == "LINK_TEXT_MISMATCH" for rule, _ in found) == 1  # its own subdomain is fine
    assert ("LINK_MALFORMED", "htps//broken") in found
    assert ("LINK_MALFORMED", "https://exa mple.com") in found
    assert ("NO_UNSUBSCRIBE_LINK", None) in found
    assert report.metrics["checked"] == 7  # the personalised link is checked when sent
    with_unsubscribe = html + '<a href="https://mybank.example/u/abc">Unsubscribe</a>'
    assert "NO_UNSUBSCRIBE_LINK" not in rules(
        links.analyse(Email.raw(html=with_unsubscribe, text="x")).findings
    )
    # A campaign's e-mail gets its unsubscribe link when it is sent.
    assert "NO_UNSUBSCRIBE_LINK" not in rules(links.analyse(Email.of(NEWSLETTER)).findings)


def test_accessibility_of_an_html_email() -> None:
    html = (
        "<html><head><style>p { color: red }</style></head><body>"
        '<h1>Sale</h1><h3>Details</h3><img src="https://x.example/banner.png">'
        '<img src="https://x.example/spacer.gif" alt="">'
        '<div style="background-color:#ffffff"><p style="color:#999999">Small print in light grey</p>'
        '<p style="color:#333333">Readable text</p></div>'
        '<a href="https://x.example/sale">Click here</a> <a href="https://x.example/shoes">Winter shoes</a>'
        "</body></html>"
    )
    report = accessibility.analyse(Email.raw(subject="Sale", html=html, text=""))
    found = rules(report.findings)
    assert found.count("IMG_NO_ALT") == 1  # alt="" marks a decorative image: fine
    assert found.count("LOW_CONTRAST") == 1
    low = next(f for f in report.findings if f.rule == "LOW_CONTRAST")
    assert low.where == "Small print in light grey"
    assert low.score is not None
    assert 2.8 < low.score < 2.9
    assert "HEADING_SKIPS_LEVEL" in found
    assert found.count("VAGUE_LINK_TEXT") == 1
    assert "NO_PLAIN_TEXT" in found
    assert rules(accessibility.analyse(Email.of(NEWSLETTER)).findings) == []


def test_merge_fields_known_fallback_or_unknown() -> None:
    content = dict(
        NEWSLETTER, body="Hi {{ name }}, your {{ plan }} and {{ city | default('town') }}. {{ bogus }}"
    )
    report = merge_fields.analyse(Email.of(content, known_fields=frozenset({"plan"})))
    by_rule = {(f.rule, f.where) for f in report.findings}
    assert by_rule == {("FIELD_FALLBACK_ONLY", "city"), ("FIELD_UNKNOWN", "bogus")}
    unchecked = merge_fields.analyse(Email.of(content, known_fields=None))
    assert ("FIELD_UNCHECKED", "plan") in {(f.rule, f.where) for f in unchecked.findings}
    broken = merge_fields.analyse(Email.of(dict(NEWSLETTER, body="Hi {{ name ")))
    assert rules(broken.findings) == ["TEMPLATE_ERROR"]


def test_huge_documents_are_analysed_in_bounded_time() -> None:
    huge = dict(NEWSLETTER, body="Plant garlic now. " * 200_000)  # 3.6 MB
    email = Email.of(huge)
    assert email.truncated
    assert len(email.body) == MAX_CHARACTERS
    started = time.monotonic()
    for spec in KINDS.values():
        spec.analyse(email)
    assert time.monotonic() - started < 20


def test_cards_follow_the_a2a_shape() -> None:
    encoded = msgspec.json.decode(msgspec.json.encode(card(AgentKind.SPAM, "urn:justmaily:agent:x")))
    assert {"name", "description", "version", "supportedInterfaces", "skills", "capabilities"} <= set(encoded)
    assert encoded["supportedInterfaces"][0] == {
        "url": "urn:justmaily:agent:x",
        "protocolBinding": "justmaily-in-process",
        "protocolVersion": "1.0",
    }
    skill = encoded["skills"][0]
    assert skill["id"] == "spam"
    assert skill["examples"]
    assert skill["inputModes"] == ["application/json"]
    assert msgspec.json.decode(msgspec.json.encode(encoded), type=AgentCard).skills[0].id == "spam"


def test_the_documented_rule_table_is_the_codes() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "mesh.md").read_text()
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([0-9.]+) \| (.+?) \|$", doc, re.MULTILINE)
    assert [(name, float(score), text) for name, score, text in rows] == [
        (rule.name, rule.score, rule.description) for rule in spam.RULES
    ]


def test_gappy_subjects_and_random_macros() -> None:
    hit = rules(spam.analyse(Email.raw(subject="F.R.E.E offer", text="Hello %RND_NAME")).findings)
    assert {"GAPPY_SUBJECT", "PERCENT_RANDOM"} <= set(hit)
    assert rules(spam.analyse(Email.raw(subject="Free offer", text="Now 50% off")).findings) == []
