"""What a person reads in a Streamlit element whose text went through `plain` (escaped markdown)."""

from __future__ import annotations

import re


def shown(markdown: str) -> str:
    """The text with markdown's backslash escapes removed: what the page displays."""
    return re.sub(r"\\(.)", r"\1", markdown)
