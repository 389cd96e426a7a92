"""A campaign's content as an e-mail: the body's Markdown rendered to HTML, and a text part.

One renderer for the desktop's live preview and for sending, so the preview shows what recipients
get. Raw HTML in the Markdown is escaped, not passed through: the body is shared by everyone who
can edit, and a pasted `<script>` or tracking pixel must not reach recipients unreviewed.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

# CommonMark plus tables and strikethrough; linkify would turn every "example.com" into a link.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{subject}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f5;">
<div style="display:none;max-height:0;overflow:hidden;">{preheader}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0"
 style="max-width:600px;width:100%;background:#ffffff;border-radius:6px;">
<tr><td style="padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;
 color:#1f2937;">
{body}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""


def render_body(markdown: str) -> str:
    """The body's Markdown as an HTML fragment."""
    rendered: str = _MARKDOWN.render(markdown)
    return rendered


def render_html(*, subject: str, preheader: str, body: str) -> str:
    """The whole HTML part: a centred single-column layout most mail clients render alike."""
    return _PAGE.format(
        subject=html.escape(subject), preheader=html.escape(preheader), body=render_body(body)
    )


def render_text(*, preheader: str, body: str) -> str:
    """The text/plain part. Markdown is written to read well as plain text, so it is the source."""
    parts = [preheader.strip(), body.strip()]
    return "\n\n".join(part for part in parts if part) + "\n"
