"""The console's login session and CSRF token, without server-side state.

With SCHEDULES_API_TOKEN set, the login form trades the token for a session cookie
(`HttpOnly`, `SameSite=Strict`): `<issued>.<nonce>.<mac>`, signed with a key derived from
the token, so every API process of a deployment accepts it and changing the token ends
every session. The CSRF token is a second MAC of the same session; the console's script
reads it from GET /ui/session and sends it in `X-CSRF-Token` with every mutating request.
A cross-site page can make the browser send the cookie but can read neither the CSRF token
nor anything else of this origin, so it cannot forge that header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

COOKIE = "schedules_console"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE_SECONDS = 12 * 3600  # one working shift; then the console asks for the token again
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _key(api_token: str) -> bytes:
    return hashlib.sha256(b"hybrid-scheduler console session\0" + api_token.encode()).digest()


def _mac(api_token: str, purpose: str, payload: str) -> str:
    message = f"{purpose}\0{payload}".encode()
    return hmac.new(_key(api_token), message, hashlib.sha256).hexdigest()


def new_session(api_token: str, now: float | None = None) -> str:
    """A fresh session cookie value for someone who just gave the right token."""
    payload = f"{int(time.time() if now is None else now)}.{secrets.token_hex(16)}"
    return f"{payload}.{_mac(api_token, 'session', payload)}"


def valid_session(api_token: str, cookie: str | None, now: float | None = None) -> bool:
    """The cookie was made by new_session with this token and is not older than
    MAX_AGE_SECONDS (nor from the future)."""
    if not cookie or len(cookie) > 200:
        return False
    payload, _, mac = cookie.rpartition(".")
    issued, _, nonce = payload.partition(".")
    if not (issued.isdigit() and nonce and mac):
        return False
    if not hmac.compare_digest(mac.encode(), _mac(api_token, "session", payload).encode()):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return -60 <= age <= MAX_AGE_SECONDS


def csrf_token(api_token: str, cookie: str) -> str:
    """The CSRF token of a (valid) session."""
    return _mac(api_token, "csrf", cookie)


def valid_csrf(api_token: str, cookie: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(
        str(given).encode(), csrf_token(api_token, cookie).encode()
    )


def check_bearer(api_token: str, authorization: str) -> bool:
    """`Authorization: Bearer <token>` names this token."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), api_token.encode()
    )
