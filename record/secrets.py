"""Keeping passwords out of every message ``record`` prints or writes.

A client library may quote the whole connection string in its own error (libpq does for a
malformed URL: ``... in URI: "postgres://u:SECRET@[::1:1/db"``, or just the bad token:
``invalid percent-encoded token: "SEC%zzRET"``), so redacting the DSN we format is not
enough: every message leaving the recorder goes through :class:`Redactor`, which replaces
each password it can find in the DSNs, in every spelling it might be quoted in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

_KEYWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)
_URL = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def passwords_in(dsn: str) -> set[str]:
    """Every spelling of a password in ``dsn`` (keyword=value, URL userinfo, URL query),
    raw, unquoted and percent-decoded, so that a message quoting any of them is caught."""
    found: set[str] = set()
    for m in _KEYWORD.finditer(dsn):
        raw = m.group(1)
        found.add(raw)
        if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
            found.add(re.sub(r"\\(.)", r"\1", raw[1:-1]))
    url = _URL.match(dsn)
    if url:
        rest = dsn[url.end() :]
        # libpq takes the userinfo up to the last '@' of the authority; a password may
        # hold a raw '/', so look for the '@' anywhere before the query
        authority = rest.split("?", 1)[0]
        if "@" in authority:
            userinfo = authority.rsplit("@", 1)[0]
            if ":" in userinfo:
                found.add(userinfo.split(":", 1)[1])
    for raw in list(found):
        found.add(unquote(raw))  # an invalid escape is left as it is, which is what we want
    return {p for p in found if p}


class Redactor:
    """Replaces every known password in a text with ``***`` (longest first, so a password
    containing another is masked whole)."""

    def __init__(self, dsns: Iterable[str] = ()):
        secrets: set[str] = set()
        for dsn in dsns:
            secrets |= passwords_in(dsn)
        self.secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def dsn(self, dsn: str) -> str:
        """The DSN for a message: its passwords masked, and a keyword's whole value."""
        return _KEYWORD.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + MASK, self(dsn))
