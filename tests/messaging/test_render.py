"""A message's Markdown as HTML: the subset renders; markup, scripts and unsafe links never do."""

from __future__ import annotations

import pytest

from careteam.messaging.render import first_line, prose, render


@pytest.mark.parametrize(
    ("body", "html"),
    [
        (
            "**bold** _em_ ~~gone~~ `code`",
            "<p><strong>bold</strong> <em>em</em> <s>gone</s> <code>code</code></p>\n",
        ),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"),
        ("3. c\n4. d", '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>\n'),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
        ("    indented", "<pre><code>indented\n</code></pre>\n"),
        ("### Plan", "<h3>Plan</h3>\n"),
        (
            "| NRS | PEG |\n|---|---|\n| 7 | 6.3 |",
            "<table>\n<thead>\n<tr>\n<th>NRS</th>\n<th>PEG</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n"
            "<td>7</td>\n<td>6.3</td>\n</tr>\n</tbody>\n</table>\n",
        ),
        (
            "[site](https://example.org)",
            '<p><a href="https://example.org" rel="noopener noreferrer">site</a></p>\n',
        ),
        (
            "[mail](mailto:a@example.org)",
            '<p><a href="mailto:a@example.org" rel="noopener noreferrer">mail</a></p>\n',
        ),
        ("line one  \nline two", "<p>line one<br>\nline two</p>\n"),
    ],
)
def test_the_markdown_subset_renders(body: str, html: str) -> None:
    assert render(body) == html


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "<div onclick=alert(1)>raw block</div>",
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_raw_html_is_shown_as_text(body: str) -> None:
    html = render(body)
    assert "<" not in html.removeprefix("<p>").removesuffix("</p>\n")
    assert html.startswith("<p>&lt;")


@pytest.mark.parametrize(
    "body",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        "<javascript:alert(1)>",
    ],
)
def test_unsafe_links_are_not_links(body: str) -> None:
    assert "href" not in render(body)


def test_links_of_other_schemes_and_images_are_dropped() -> None:
    assert "href" not in render("[ftp](ftp://example.org/file)")
    # No images: a remote picture would tell its site who read the thread.
    html = render("![scan](https://example.org/x.png)")
    assert "<img" not in html and 'href="https://example.org/x.png"' in html


def test_an_autolink_and_a_title_keep_only_safe_attributes() -> None:
    assert render('[a](https://example.org "the title")') == (
        '<p><a href="https://example.org" title="the title" rel="noopener noreferrer">a</a></p>\n'
    )


def test_prose_is_the_text_outside_code() -> None:
    body = "@team see `@lead` below\n\n    @nurse in code\n\n> @pt **@ot** [@physio](https://example.org)"
    assert prose(body).split("\n") == ["@team see ", " below", "@pt ", "@ot", " ", "@physio"]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("**Hold** apixaban _from Monday_\nfor Thursday", "Hold apixaban from Monday"),
        ("# Sleep diary\n\nworse after PT", "Sleep diary"),
        ("[the log](https://example.org) and `PEG 6`", "the log and PEG 6"),
        ("- first item\n- second", "first item"),
        ("```\ncode only\n```", ""),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("  spaced    out  ", "spaced out"),
    ],
)
def test_the_first_line_as_plain_words(body: str, line: str) -> None:
    assert first_line(body) == line
