"""`str.isdigit()` is true for '²' (which `int()` refuses: a 500) and for Arabic-Indic or full-width digits (which
`int()` reads): a number given as text (query parameters, cursors, config fields, ids) is checked with this instead."""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def ascii_digits(value: object) -> bool:
    """True for a non-empty string of the digits 0-9 and nothing else."""
    return isinstance(value, str) and _ASCII_DIGITS.fullmatch(value) is not None
