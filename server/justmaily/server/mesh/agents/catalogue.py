"""Every kind of agent: what it runs and how its A2A card describes its one skill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from justmaily.server.mesh.agents import accessibility, language, links, merge_fields, readability, spam, tone
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import (
    IN_PROCESS_BINDING,
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentKind,
    AgentProvider,
    AgentReport,
    AgentSkill,
)

AGENT_VERSION = "1.0.0"
Analysis = Callable[[Email], AgentReport]


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: AgentKind
    name: str
    description: str
    analyse: Analysis
    tags: tuple[str, ...]
    examples: tuple[str, ...]


KINDS: dict[AgentKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            AgentKind.SPAM,
            "Spam and deliverability",
            "Scores an e-mail by a documented table of SpamAssassin rules (names, scores, explanations).",
            spam.analyse,
            ("spam", "deliverability", "spamassassin"),
            (
                "Would 'BUY NOW!!! 100% GUARANTEED' be taken for spam?",
                "Which SpamAssassin rules does this e-mail hit?",
            ),
        ),
        KindSpec(
            AgentKind.READABILITY,
            "Readability",
            "Flesch reading ease, Flesch-Kincaid grade and long sentences of the plain-text part.",
            readability.analyse,
            ("readability", "textstat"),
            ("How hard is this newsletter to read?",),
        ),
        KindSpec(
            AgentKind.TONE,
            "Tone",
            "How positive or negative the e-mail reads (VADER), and shouting.",
            tone.analyse,
            ("tone", "sentiment", "vader"),
            ("Does this apology read as negative?",),
        ),
        KindSpec(
            AgentKind.LANGUAGE,
            "Language",
            "The language of the body and of the subject (139 languages, offline).",
            language.analyse,
            ("language", "detection"),
            ("Which language is this e-mail in?",),
        ),
        KindSpec(
            AgentKind.LINKS,
            "Links",
            "Malformed and insecure links, visible text naming another place, an unsubscribe link.",
            links.analyse,
            ("links", "phishing", "unsubscribe"),
            ("Does any link's text name another site than it opens?",),
        ),
        KindSpec(
            AgentKind.ACCESSIBILITY,
            "Accessibility",
            "Images without alt text, WCAG contrast, heading order, vague link text, a plain-text part.",
            accessibility.analyse,
            ("accessibility", "wcag"),
            ("Is the grey footer text readable against its background?",),
        ),
        KindSpec(
            AgentKind.MERGE_FIELDS,
            "Merge fields",
            "Every merge field exists in the audience or has a fallback.",
            merge_fields.analyse,
            ("personalisation", "merge fields"),
            ("Does every recipient have {{ plan }}?",),
        ),
    )
}


def card(kind: AgentKind, agent_url: str) -> AgentCard:
    """The A2A card of an agent of `kind` reachable at `agent_url` (docs/mesh.md)."""
    spec = KINDS[kind]
    return AgentCard(
        name=f"JustMaily {spec.name}",
        description=spec.description,
        version=AGENT_VERSION,
        supported_interfaces=[AgentInterface(url=agent_url, protocol_binding=IN_PROCESS_BINDING)],
        capabilities=AgentCapabilities(),
        default_input_modes=["application/json"],
        default_output_modes=["application/json"],
        skills=[
            AgentSkill(
                id=str(kind),
                name=spec.name,
                description=spec.description,
                tags=list(spec.tags),
                examples=list(spec.examples),
                input_modes=["application/json"],
                output_modes=["application/json"],
            )
        ],
        provider=AgentProvider(organization="JustMaily", url="https://justmaily.invalid/"),
        documentation_url="https://justmaily.invalid/docs/mesh",
    )
