"""The HTML part read once into what the link and accessibility agents look at (stdlib parser:
it never fails on malformed HTML, which mail clients render anyway)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from html.parser import HTMLParser

_BLOCKS_STYLE = frozenset({"style", "script", "head", "title"})


@dataclass(slots=True)
class Link:
    href: str | None
    text: str = ""


@dataclass(slots=True)
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""  # its own and its children's text, for elements that carry text
    inherited_style: str = ""  # the styles of its ancestors, outermost first, then its own


@dataclass(slots=True)
class Parts:
    links: list[Link] = field(default_factory=list)
    images: list[dict[str, str | None]] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    styled_text: list[Element] = field(default_factory=list)  # text with its effective styles


_VOID = frozenset({"img", "br", "hr", "meta", "link", "input", "area", "base", "col", "source", "wbr"})


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts = Parts()
        self._stack: list[tuple[str, str]] = []  # open tags and their style attributes
        self._link: Link | None = None
        self._heading: tuple[int, list[str]] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "img":
            self.parts.images.append(dict(attrs))
            if self._link is not None and values.get("alt"):
                self._link.text += " " + values["alt"]
            return
        if tag in _VOID:
            return
        self._stack.append((tag, values.get("style", "")))
        if tag in _BLOCKS_STYLE:
            self._skip += 1
        elif tag == "a":
            self._link = Link(dict(attrs).get("href"))
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._heading = (int(tag[1]), [])

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag in _BLOCKS_STYLE:
                self._skip -= 1
            if open_tag == "a" and self._link is not None:
                self._link.text = " ".join(self._link.text.split())
                self.parts.links.append(self._link)
                self._link = None
            if open_tag[0] == "h" and self._heading is not None and open_tag == f"h{self._heading[0]}":
                level, words = self._heading
                self.parts.headings.append((level, " ".join("".join(words).split())))
                self._heading = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        if self._link is not None:
            self._link.text += data
        if self._heading is not None:
            self._heading[1].append(data)
        style = ";".join(style for _, style in self._stack if style)
        tag = self._stack[-1][0] if self._stack else ""
        self.parts.styled_text.append(Element(tag, {}, data.strip(), style))


@functools.lru_cache(maxsize=16)
def read(html: str) -> Parts:
    """The parts of `html`; several agents (and rules) read the same e-mail, so it is read once
    (the result is shared: treat it as read-only)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    if reader._link is not None:  # an anchor never closed still counts
        reader.parts.links.append(reader._link)
    return reader.parts
