"""The one rule for every socket that listens for data which drives intents (the daemon's WebSocket, the
UDP and TCP IMU sources): loopback is private; any other address is reachable from the LAN and needs a
real token, so a stranger on the network cannot steer the wearer's intents.
"""

from __future__ import annotations

import ipaddress
import string

MIN_TOKEN_CHARS = 16
MIN_DISTINCT_CHARS = 8


class BindRefused(ValueError):
    """A listening address that would expose the inputs without (or with a trivial) token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name could resolve anywhere: treat it as exposed


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot protect a public bind, or None when it can."""
    if token is None or not token.strip():
        return "no token (or only whitespace)"
    if token != token.strip() or any(c.isspace() for c in token):
        return "the token contains whitespace"
    if len(token) < MIN_TOKEN_CHARS:
        return f"the token is {len(token)} characters; use at least {MIN_TOKEN_CHARS}"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return f"the token uses only {len(set(token))} distinct characters; use a random one"
    for run in (string.ascii_lowercase, string.ascii_uppercase, string.digits + string.ascii_lowercase):
        if token.lower() in run or token in run * 2:
            return "the token is a run of consecutive characters; use a random one"
    return None


def check_bind(host: str, token: str | None, what: str = "listen") -> None:
    """Raise BindRefused unless `host` is loopback or `token` is a real secret."""
    if is_loopback(host):
        return
    problem = token_problem(token)
    if problem is None:
        return
    hint = "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
    if token is None or not token.strip():
        raise BindRefused(
            f"refusing to {what} on {host!r} without a token: any address other than loopback "
            f"needs one (set CUEKIT_TOKEN or [server] token_file / --token-file) {hint}"
        )
    raise BindRefused(f"refusing to {what} on {host!r}: {problem} {hint}")
