"""A message's Markdown as the HTML a page may insert: CommonMark with raw HTML off, then an allow-list.

Two walls, each enough alone for what it guards: markdown-it never passes raw HTML through (``html``
off: ``<script>`` is text) and refuses ``javascript:`` links; nh3 (ammonia) then keeps only the tags and
attributes below, only http, https and mailto links, and gives every link ``rel="noopener noreferrer"``.
Images are off (``![x](url)`` stays a link). Nothing here escapes by hand.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

# No images: a picture from another site in a clinical thread tells that site who read it, and when.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"]).disable("image")

TAGS = frozenset(
    {
        *("p", "br", "hr", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a"),
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def prose(body: str) -> str:
    """The message's words as a reader sees them, without code spans and blocks: where @mentions count
    (``@team`` quoted in backticks reaches nobody). One line per piece of text, so no two pieces join."""
    return "\n".join(
        child.content
        for token in _MARKDOWN.parse(body)
        if token.type == "inline"
        for child in token.children or ()
        if child.type == "text"
    )


def first_line(body: str) -> str:
    """The message's first line as plain words (no Markdown markers: emphasis, links and code spans keep
    only their text); "" if it has no text outside code blocks."""
    for token in _MARKDOWN.parse(body):
        if token.type != "inline":
            continue
        words: list[str] = []
        for child in token.children or ():
            if child.type in ("softbreak", "hardbreak"):
                break
            if child.type in ("text", "code_inline"):
                words.append(child.content)
        line = " ".join("".join(words).split())
        if line:
            return line
    return ""


def render(body: str) -> str:
    """The message as sanitised HTML."""
    return nh3.clean(
        _MARKDOWN.render(body),
        tags=set(TAGS),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    )
