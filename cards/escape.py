"""Untrusted text (a sentence quoted from a clinical note, a free-text value from the record) on a card.

CDS Hooks 2.0.1 card ``detail`` is GitHub-flavoured markdown, which EHRs render - some with raw HTML enabled. Text we
did not write must therefore show as the characters it contains and never become a link, an image, emphasis, a
heading, a table cell boundary or HTML: ``[x](javascript:...)``, ``<script>``, ``**``, ``|``.
"""
from __future__ import annotations

import re

# HTML first (as entities: shown as the characters by markdown and by HTML alike), then every ASCII punctuation mark
# that CommonMark/GFM give a meaning to, escaped with a backslash (CommonMark: "any ASCII punctuation character may be
# backslash-escaped"), so the renderer shows it literally.
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Parentheses need no escape once brackets are escaped: without "[...]" there is no link or image to open.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]#!|~])")
_BLOCK_START = re.compile(r"^(\d+)([.)])")  # "1. " would start an ordered list
_MARKER_START = re.compile(r"^([-+=])")  # a list item, a setext heading underline
_WHITESPACE = re.compile(r"\s+")
# GFM's extended autolinks turn "https://...", "www...." and "user@host" into links without any markup; a backslash
# before the ":" , the "." after "www" and the "@" (legal escapes of ASCII punctuation) keeps them plain text.
_AUTOLINK_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp)(:)")
_AUTOLINK_WWW = re.compile(r"(?i)\b(www)(\.)")


# A character or start that one of the steps below rewrites; text without any (most labels and values) is returned as
# it is, after the whitespace step.
_NEEDS_ESCAPING = re.compile(r"[&<>\\`*_{}\[\]#!|~@:]|(?i:www\.)|^[-+=\d]")


def escape_markdown(text: str) -> str:
    """One line of literal text for a markdown paragraph, list item, block quote or table cell."""
    text = _WHITESPACE.sub(" ", str(text)).strip()  # a newline would end a table row or a block quote
    if _NEEDS_ESCAPING.search(text) is None:
        return text
    return _escaped(text)


def _escaped(text: str) -> str:
    text = "".join(_HTML.get(ch, ch) for ch in text)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    text = _MARKER_START.sub(r"\\\1", text)
    text = _AUTOLINK_SCHEME.sub(r"\1\\\2", text)
    text = _AUTOLINK_WWW.sub(r"\1\\\2", text).replace("@", "\\@")
    return _BLOCK_START.sub(r"\1\\\2", text)
