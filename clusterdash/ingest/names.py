"""The one rule for a name read from outside (a user, machine, machine type, role or affiliation from the IO log;
a user, account, partition, job or node name from sacct): what may be stored as a name. Pure: no I/O, imports
nothing of the package.

A name is data: markup (`<b>`) or a formula (`=SUM(A1)`) is stored as it is, and escaping it is the job of
whatever shows it. What is refused is what no display can show honestly and no column can hold: more than
MAX_NAME_LENGTH characters (the schema's VARCHAR(255); PostgreSQL refuses longer ones), control characters
(NUL included: PostgreSQL cannot store it in text), the invisible format characters that reorder or hide text
(bidirectional overrides and isolates, marks, zero-width characters: spoofed names), line and paragraph
separators, and U+FFFD, which is what bytes that were not UTF-8 became when read (two different such names
would be stored as the same one).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 255

# Unicode categories refused: Cc controls, Cf format characters (U+200E/U+200F marks, U+202A-U+202E embeddings and
# overrides, U+2066-U+2069 isolates, zero-width characters, U+FEFF...), Cs surrogates, Zl/Zp separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REPLACEMENT = "\ufffd"


def unsafe_name(name: str) -> str | None:
    """Why `name` cannot be stored as a name, in words that quote none of it; None when it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name):,} characters long (at most {MAX_NAME_LENGTH})"
    if name.isascii():  # nearly every name: one regex search
        found = _ASCII_CONTROL.search(name)
        at = found.start() if found else -1
    else:
        at = next(
            (i for i, c in enumerate(name) if c == _REPLACEMENT or unicodedata.category(c) in UNSAFE_CATEGORIES), -1
        )
    if at < 0:
        return None
    char = name[at]
    if char == _REPLACEMENT:
        return f"holds bytes that are not UTF-8 (character {at + 1})"
    kind = "a control character" if unicodedata.category(char) == "Cc" else "an invisible formatting character"
    return f"holds {kind}, U+{ord(char):04X} (character {at + 1})"


def has_unsafe_character(text: str) -> bool:
    """Whether any character of `text` is one a name may not hold (a quick look at a whole line of input before
    its names are read one by one with unsafe_name): only its distinct characters beyond printable ASCII are
    looked up."""
    if text.isascii():
        return _ASCII_CONTROL.search(text) is not None
    return any(
        char == _REPLACEMENT or unicodedata.category(char) in UNSAFE_CATEGORIES
        for char in set(text).difference(_PRINTABLE_ASCII)
    )


_PRINTABLE_ASCII = frozenset(map(chr, range(0x20, 0x7F)))
