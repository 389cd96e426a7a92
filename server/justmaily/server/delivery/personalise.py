"""A send's approved content turned into per-recipient subject, text and HTML.

The body's Markdown is rendered once per send (`prepare`), not once per recipient: merge fields
(`{{ name }}`, `{{ plan | default("free") }}`) are swapped for placeholders that Markdown leaves
alone, and put back into the rendered HTML as Jinja. Links are numbered and routed through the
click tracker by number, so a tracking URL can only ever redirect to a link of the approved
content. Templates run in Jinja's sandbox: the body is written by many people and must not reach
Python objects, nor stall the server or fill its memory (`sandbox.py`: bounded time, size, work).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, TemplateError

from justmaily.server.audiences.repository import Recipient
from justmaily.server.delivery.sandbox import (
    BoundedSandbox,
    BoundedTemplate,
    Limits,
    TemplateLimitError,
    render_bounded,
)
from justmaily.shared.collaboration import SUBJECT_VARIANTS
from justmaily.shared.document.rendering import render_html, render_text

# Built-in merge fields; any other name must be an attribute some contact has.
BUILTIN_FIELDS = frozenset({"email", "name", "first_name"})
_INTERNAL = frozenset({"_click", "_unsubscribe_url", "_open_url"})
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"zqjm(\d+)qz")
_HREF = re.compile(r'href="(https?://[^"]*)"')
_TEXT_FOOTER = "\n--\nUnsubscribe: {{ _unsubscribe_url }}\n"
_HTML_FOOTER = (
    '<p style="font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#6b7280;text-align:center;">'
    '<a href="{{ _unsubscribe_url }}" style="color:#6b7280;">Unsubscribe</a></p>'
    '<img src="{{ _open_url }}" width="1" height="1" alt="" style="display:block;border:0;">'
)


# What rendering one part of one message may take (docs/delivery.md, "Personalisation"). A
# preview runs in a worker thread; sending renders on the event loop, at about a thousand
# messages a second, where a legitimate template takes well under a millisecond.
PREVIEW_LIMITS = Limits(seconds=2.0)
SENDING_LIMITS = Limits(seconds=0.25)


class ContentError(ValueError):
    """The content cannot be sent as it is: a template error or an unknown merge field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class ContentLimitError(ContentError):
    """A template goes past a limit of personalisation (`limit` names it): no contact can get it."""

    def __init__(self, field: str, error: TemplateLimitError) -> None:
        super().__init__(field, f"the template goes past a limit of personalisation: {error.message}")
        self.limit = error.limit


@dataclass(frozen=True)
class RecipientUrls:
    unsubscribe: str
    open_pixel: str
    click: Callable[[int], str]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class PreparedContent:
    """Compiled templates of one send; `render` is the per-recipient hot path."""

    def __init__(
        self, *, sender: str, subjects: Sequence[str], text: str, html_page: str, links: list[str]
    ) -> None:
        self.sender = sender
        self.links = tuple(links)
        self._subjects = [
            _compile(_TEXT_ENV, SUBJECT_VARIANTS if index else "subject", subject)
            for index, subject in enumerate(subjects)
        ]
        self._text = _compile(_TEXT_ENV, "body", text)
        self._html = _compile(_HTML_ENV, "body", html_page)

    def _click(self, tracked: Callable[[int], str]) -> Callable[[object], str]:
        """`_click(n)` as templates call it: only the numbers of the content's own links exist."""

        def click(number: object) -> str:
            if type(number) is not int or not 0 <= number < len(self.links):
                raise ContentError(
                    "body",
                    f"_click({number!r}) names no link: the content has {len(self.links)} link(s), "
                    f"numbered from 0; write the link itself and it is tracked",
                )
            return tracked(number)

        return click

    def render(
        self, recipient: Recipient, urls: RecipientUrls, subject: int = 0, limits: Limits = SENDING_LIMITS
    ) -> Rendered:
        """Personalise for one recipient; `subject` picks a subject line of an A/B test.
        Raises ContentLimitError if a template goes past `limits`, ContentError if it fails."""
        context = {
            **recipient.attributes,
            "email": recipient.email,
            "name": recipient.name,
            "first_name": recipient.name.split(" ", 1)[0],
            "_unsubscribe_url": urls.unsubscribe,
            "_open_url": urls.open_pixel,
            "_click": self._click(urls.click),
        }
        field = "subject"
        try:
            subject_line = render_bounded(self._subjects[subject], context, limits)
            field = "body"
            return Rendered(
                subject=" ".join(subject_line.split()),
                text=render_bounded(self._text, context, limits),
                html=render_bounded(self._html, context, limits),
            )
        except TemplateLimitError as exc:
            raise ContentLimitError(field, exc) from None
        except ContentError:
            raise
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise ContentError("body", f"cannot personalise for this contact: {exc}") from None


def prepare(
    content: Mapping[str, str], known_attributes: Iterable[str], subjects: Sequence[str] = ()
) -> PreparedContent:
    """Compile the content, refusing template errors and merge fields no contact has.
    `subjects`: the subject lines of an A/B test (the subject and its variants), if any."""
    known = BUILTIN_FIELDS | set(known_attributes)
    subject, preheader, body = content["subject"], content["preheader"], content["body"]
    for name, source in (("subject", subject), ("preheader", preheader), ("body", body)):
        _check_fields(name, source, known)
    for variant in subjects[1:]:
        _check_fields(SUBJECT_VARIANTS, variant, known)
    tags: dict[str, str] = {}
    page = render_html(
        subject=_protect(subject, tags), preheader=_protect(preheader, tags), body=_protect(body, tags)
    )
    links: list[str] = []

    def track(match: re.Match[str]) -> str:
        url = html.unescape(match.group(1))
        if _PLACEHOLDER.search(url):  # a personalised link is sent as it is, not tracked
            return match.group(0)
        links.append(url)
        return f'href="{{{{ _click({len(links) - 1}) }}}}"'

    page = _HREF.sub(track, page)
    page = page.replace("</body>", _HTML_FOOTER + "\n</body>", 1)
    return PreparedContent(
        sender=content["sender"],
        subjects=[subject, *subjects[1:]],
        text=render_text(preheader=preheader, body=body) + _TEXT_FOOTER,
        html_page=_restore(page, tags),
        links=links,
    )


def preview(
    content: Mapping[str, str], known_attributes: Iterable[str], recipient: Recipient, base_url: str
) -> Rendered:
    """The content as `recipient` would get it, its links not tracked: for a person to look at
    (in a worker thread: compiling and rendering a big body takes a while)."""
    prepared = prepare(content, known_attributes)
    urls = RecipientUrls(
        unsubscribe=f"{base_url}/unsubscribe",
        open_pixel=f"{base_url}/open",
        click=lambda n: prepared.links[n],
    )
    return prepared.render(recipient, urls, limits=PREVIEW_LIMITS)


_TEXT_ENV = BoundedSandbox(autoescape=False, keep_trailing_newline=True)
_HTML_ENV = BoundedSandbox(autoescape=True, keep_trailing_newline=True)


def _compile(env: BoundedSandbox, field: str, source: str) -> BoundedTemplate:
    try:
        return env.compile_bounded(source)
    except TemplateSyntaxError as exc:
        raise ContentError(field, f"template error on line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise ContentError(field, f"not allowed in a template: {exc}") from None
    except TemplateLimitError as exc:  # a constant folded while compiling
        raise ContentLimitError(field, exc) from None


def _check_fields(field: str, source: str, known: frozenset[str] | set[str]) -> None:
    try:
        parsed = _TEXT_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ContentError(field, f"template error on line {exc.lineno}: {exc.message}") from None
    used = meta.find_undeclared_variables(parsed)
    unknown = sorted(used - known - _INTERNAL)
    if unknown:
        names = ", ".join(unknown)
        raise ContentError(
            field,
            f"unknown merge field {names}: no contact has it (known: {', '.join(sorted(known))}); "
            'write {{ field | default("…") }} for fields some contacts lack',
        )


def _protect(source: str, tags: dict[str, str]) -> str:
    """Swap template tags for placeholders Markdown and HTML escaping leave alone."""

    def swap(match: re.Match[str]) -> str:
        key = f"zqjm{len(tags)}qz"
        tags[key] = match.group(0)
        return key

    return _JINJA.sub(swap, source)


def _restore(rendered: str, tags: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: tags.get(m.group(0), m.group(0)), rendered)
