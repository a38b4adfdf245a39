"""Control-plane endpoint values as they enter: the URL (flag or environment) and the token.

Checked here, before any client is built, so that a pasted newline, a NUL or a stray
non-ASCII character is one clear error naming the flag or variable instead of a failure
deep in the HTTP stack. Never echoes a token, nor a URL (it may carry a password).
"""

from __future__ import annotations

import urllib.parse

from reconciler.core.errors import UsageError


def check_token(token: str, *, source: str) -> str:
    """`token` (already stripped) when every character can go in an HTTP header."""
    for position, char in enumerate(token, start=1):
        if char == " ":
            raise UsageError(
                f"{source} holds a space at position {position}: a control plane token has "
                "none; set it to the token alone (value not shown)"
            )
        if char < " " or char == "\x7f":
            raise UsageError(
                f"{source} holds a control character ({_name(char)}) at position {position}: "
                "set it to the token alone, without line breaks (value not shown)"
            )
        if char == " ":
            raise UsageError(
                f"{source} holds a space at position {position}: tokens contain no spaces; "
                "set it to the token alone (value not shown)"
            )
        if char > "\x7e":
            raise UsageError(
                f"{source} holds a non-ASCII character at position {position}: a control "
                "plane token is plain ASCII; copy it again (value not shown)"
            )
    return token


def check_url(url: str, *, source: str) -> str:
    """`url` without surrounding whitespace when it is a usable http(s) URL with a host."""
    url = url.strip()
    for position, char in enumerate(url, start=1):
        if char.isprintable() and not char.isspace() and not char.isascii():
            raise UsageError(
                f"{source} holds a non-ASCII character ({_name(char)}) at position {position}; "
                "a URL takes no control, space or non-ASCII characters (use the punycode "
                f"host name); fix {source}"
            )
        if not char.isprintable() or char.isspace():
            raise UsageError(
                f"{source} holds a control or space character ({_name(char)}) at position "
                f"{position}; fix {source} (value not shown: it may carry a password)"
            )
        if not char.isascii():
            # A look-alike host (IDN) or a pasted typographic character: the ASCII form
            # (punycode, percent-encoding) is asked for rather than guessed.
            raise UsageError(
                f"{source} holds a non-ASCII character ({_name(char)}) at position {position}: "
                "a URL here is printable ASCII without control characters; write the host in "
                f"punycode and percent-encode the rest (value not shown: it may carry a password)"
            )
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when invalid)
    except ValueError as exc:
        raise UsageError(f"{source} is not a valid URL ({exc}); fix {source}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{source} is not an http(s) URL with a host (e.g. https://api.tensormesh.ai); "
            f"fix {source}"
        )
    return url


def _name(char: str) -> str:
    names = {"\n": "LF", "\r": "CR", "\t": "TAB", "\x00": "NUL", " ": "space", "\x7f": "DEL"}
    return names.get(char, f"U+{ord(char):04X}")
