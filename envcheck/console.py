"""The rich console every view prints through: text from files passes through ``printable`` on its way."""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment

from envcheck.text import UNSAFE, printable


class SafeConsole(Console):
    """A rich console whose content passes through ``printable``: strings before markup and layout (so
    tables stay aligned), and every segment of text as the last step, whatever renderable made it. The
    console's own styling (colour codes, which are not text) is untouched."""

    def render_str(self, text: str, *args, **kwargs):
        return super().render_str(printable(text), *args, **kwargs)

    def render(self, renderable, options=None):
        for segment in super().render(renderable, options):
            if segment.control is None and UNSAFE.search(segment.text):
                yield Segment(printable(segment.text), segment.style)
            else:
                yield segment
