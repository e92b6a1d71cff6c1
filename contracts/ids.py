"""What an id (user, item, session, event, list, variant) may be: one character class, one length.

Ids are restricted to ``[A-Za-z0-9_.-]`` so that they can never smuggle Redis key separators, glob
characters, path segments or line breaks into the key schema, file names or logs downstream. Every
check of an id, in any stage, is built from these three names.
"""

from __future__ import annotations

import re

#: The allowed characters, as the body of a regex character class.
ID_CHARS = r"A-Za-z0-9_.\-"
MAX_ID_LEN = 64
#: For JSON Schema and msgspec (a search, portable); Python code checks with :func:`is_id` instead.
ID_PATTERN = rf"^[{ID_CHARS}]+$"

# fullmatch, never match/search: ``$`` also matches before a trailing newline, so "u1\n" would pass.
_ID = re.compile(rf"[{ID_CHARS}]{{1,{MAX_ID_LEN}}}")


def is_id(value: object) -> bool:
    """True if ``value`` is a valid id: a str of 1..64 allowed characters, no line break anywhere."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None
