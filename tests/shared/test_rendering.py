"""The body's Markdown as e-mail: what recipients get, and what must never reach them."""

from __future__ import annotations

import pytest

from justmaily.shared.document.rendering import render_body, render_html, render_text


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "Hello <img src=https://tracker.example/p.gif onerror=alert(1)> there",
        '<a href="https://evil.example">click</a>',
        "<div>\n\n**still markdown**\n\n</div>",
        "<!-- hidden -->",
    ],
)
def test_raw_html_in_the_markdown_is_shown_as_text(markdown: str) -> None:
    html = render_body(markdown)
    assert "<script" not in html
    assert "<img" not in html
    assert "<a " not in html
    assert "<div" not in html
    assert "<!--" not in html
    assert "&lt;" in html


def test_escaped_html_keeps_the_words() -> None:
    assert render_body("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "<javascript:alert(1)>",
        "![pixel](javascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_script_links_are_not_rendered_as_links(markdown: str) -> None:
    html = render_body(markdown)
    assert "href=" not in html
    assert "src=" not in html
    assert "<a" not in html


def test_ordinary_links_and_formatting_render() -> None:
    html = render_body("Read **this** and _that_, see [our shop](https://shop.example.com/?a=1&b=2).")
    assert "<strong>this</strong>" in html
    assert "<em>that</em>" in html
    assert '<a href="https://shop.example.com/?a=1&amp;b=2">our shop</a>' in html
    assert render_body("~~was 40~~ now 30") == "<p><s>was 40</s> now 30</p>\n"


def test_bare_domains_are_not_turned_into_links() -> None:
    assert "<a" not in render_body("Visit example.com or www.example.com")


def test_tables_render() -> None:
    html = render_body("| Size | Price |\n|------|------:|\n| S | 10 |\n| M | 12 |\n")
    assert html.startswith("<table>")
    assert "<th>Size</th>" in html
    assert '<th style="text-align:right">Price</th>' in html
    assert html.count("<tr>") == 3
    assert "<td>M</td>" in html
    assert '<td style="text-align:right">12</td>' in html


def test_subject_and_preheader_are_escaped_in_the_page() -> None:
    page = render_html(
        subject='<script>alert("s")</script> & more',
        preheader="<img src=x> three days",
        body="# Spring sale\n\nUp to <b>50%</b> off.",
    )
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>&lt;script&gt;alert(&quot;s&quot;)&lt;/script&gt; &amp; more</title>" in page
    assert "&lt;img src=x&gt; three days</div>" in page
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert "<h1>Spring sale</h1>" in page
    assert "<p>Up to &lt;b&gt;50%&lt;/b&gt; off.</p>" in page


def test_braces_in_the_content_are_kept_as_they_are() -> None:
    page = render_html(subject="{subject} {0}", preheader="{body}", body="Use {code} here")
    assert "<title>{subject} {0}</title>" in page
    assert ">{body}</div>" in page
    assert "<p>Use {code} here</p>" in page


def test_the_text_part_has_the_preheader_then_the_markdown_body() -> None:
    text = render_text(preheader="  Three days only ", body="\n# Spring sale\n\nUp to **50%** off.\n\n")
    assert text == "Three days only\n\n# Spring sale\n\nUp to **50%** off.\n"


def test_the_text_part_without_a_preheader_is_the_body() -> None:
    assert render_text(preheader="   ", body="Hello") == "Hello\n"
    assert render_text(preheader="Only this", body="") == "Only this\n"
