"""Strings from files (a report, a journal, a foreign JUnit case) made safe to show: every control
character is shown escaped, so that nothing read from a file can clear a screen, retitle a terminal,
hide text or break an XML document. One function, applied where text leaves the tool: the rich
console (envcheck/console.py), plain progress and error lines, Markdown, HTML and JUnit XML.
"""

from __future__ import annotations

import re

# C0 except newline and tab, DEL, C1 (ESC is in C0), lone surrogates (unprintable, not UTF-8), and the
# bidirectional overrides and isolates that reorder what a reader sees ("Trojan Source").
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each control character shown as its escape (ESC as ``\\x1b``); newline and tab kept."""
    return UNSAFE.sub(escaped, text)
