"""Text that is not valid Unicode: lone surrogates, which Python strings allow and UTF-8 does not.

A `str` can hold code points U+D800 to U+DFFF on their own (JSON's `"\\ud800"` escape decodes to
one, as does `surrogateescape` decoding of bytes that are not UTF-8). No UTF-8 encoder writes
them, so a page, a database driver or a file that meets one fails. Where text arrives from
outside, it is checked (`has_surrogates`) or made valid (`replace_surrogates`) here.
"""

from __future__ import annotations

import re

SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def has_surrogates(text: str) -> bool:
    """Whether `text` holds a lone surrogate (ASCII text is answered without a scan)."""
    if text.isascii():
        return False
    try:
        text.encode()  # several times faster than a regular expression over the text
    except UnicodeEncodeError:
        return True
    return False


def replace_surrogates(text: str) -> tuple[str, int]:
    """Return `text` with each lone surrogate replaced by U+FFFD, and how many were replaced."""
    if not has_surrogates(text):
        return text, 0
    return SURROGATES.subn(REPLACEMENT, text)


def first_surrogate(text: str) -> str:
    """Name the first lone surrogate in `text`, e.g. "U+D800", or "" when there is none."""
    found = SURROGATES.search(text)
    return f"U+{ord(found.group()):04X}" if found else ""
