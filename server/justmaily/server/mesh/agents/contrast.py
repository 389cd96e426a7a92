"""Text colour against its background, as WCAG 2.1 measures it (coloraide), from inline styles:
e-mail clients drop style sheets, so inline styles are what readers see."""

from __future__ import annotations

import functools
import re

from coloraide import Color

from justmaily.server.mesh.agents.html_parts import Element, Parts

_DECLARATION = re.compile(r"(?:^|;)\s*(color|background-color|background)\s*:\s*([^;]+)", re.IGNORECASE)
DEFAULT_TEXT, DEFAULT_BACKGROUND = "#000000", "#ffffff"  # what mail clients show unstyled


def colours(style: str) -> tuple[str, str]:
    """The effective text and background colours of an element from its inherited styles (the
    last declaration wins, as the innermost does)."""
    text, background = DEFAULT_TEXT, DEFAULT_BACKGROUND
    for name, declared in _DECLARATION.findall(style):
        value = declared.strip().removesuffix("!important").strip()
        if name.lower() == "color":
            text = value
        else:
            background = value.split()[0] if value.split() else background
    return text, background


@functools.lru_cache(maxsize=256)  # an e-mail repeats a few colour pairs many times
def ratio(text: str, background: str) -> float | None:
    """The WCAG contrast ratio, None if either colour is not one CSS names plainly."""
    try:
        return float(Color(text).contrast(Color(background), method="wcag21"))
    except ValueError:
        return None


def low_contrast(parts: Parts, minimum: float) -> list[Element]:
    """The texts whose contrast is below `minimum`, worst first."""
    found: list[tuple[float, Element]] = []
    for element in parts.styled_text:
        measured = ratio(*colours(element.inherited_style))
        if measured is not None and measured < minimum:
            found.append((measured, element))
    found.sort(key=lambda pair: pair[0])
    return [element for _, element in found]
