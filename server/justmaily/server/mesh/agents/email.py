"""What every agent reads: one e-mail as it will be sent, its texts and both rendered parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from justmaily.shared.document.rendering import render_html, render_text

# Bounded work (docs/mesh.md): agents read at most this much of each text; a longer body is
# analysed by its beginning and the report says so.
MAX_CHARACTERS = 200_000


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    preheader: str
    sender: str
    body: str  # the source (Markdown with merge fields) as written
    html: str
    text: str
    # The audience's merge fields (attribute names some contact has; the built-ins are known
    # anyway); None where unknown, so the merge-fields agent cannot judge.
    known_fields: frozenset[str] | None = None
    truncated: bool = False
    # Sending adds an unsubscribe link (delivery/personalise.py) to campaigns' e-mails.
    unsubscribe_added: bool = False

    @classmethod
    def of(cls, texts: Mapping[str, str], known_fields: frozenset[str] | None = None) -> Email:
        """From a campaign document's texts, rendered as sending renders them."""
        clipped = {
            name: texts.get(name, "")[:MAX_CHARACTERS] for name in ("subject", "preheader", "sender", "body")
        }
        truncated = any(len(texts.get(name, "")) > MAX_CHARACTERS for name in clipped)
        return cls(
            subject=clipped["subject"],
            preheader=clipped["preheader"],
            sender=clipped["sender"],
            body=clipped["body"],
            html=render_html(
                subject=clipped["subject"], preheader=clipped["preheader"], body=clipped["body"]
            ),
            text=render_text(preheader=clipped["preheader"], body=clipped["body"]),
            known_fields=known_fields,
            truncated=truncated,
            unsubscribe_added=True,
        )

    @classmethod
    def raw(
        cls, *, subject: str = "", html: str = "", text: str = "", known_fields: frozenset[str] | None = None
    ) -> Email:
        """An e-mail given as its parts (an HTML e-mail from elsewhere, the tests' samples)."""
        return cls(
            subject=subject[:MAX_CHARACTERS],
            preheader="",
            sender="",
            body=text[:MAX_CHARACTERS],
            html=html[:MAX_CHARACTERS],
            text=text[:MAX_CHARACTERS],
            known_fields=known_fields,
            truncated=max(len(subject), len(html), len(text)) > MAX_CHARACTERS,
        )
