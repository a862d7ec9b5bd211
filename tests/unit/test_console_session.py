"""The console's session cookie and CSRF token (api/console/session.py): made only with
the right token, bound to it, expiring, and not forgeable from a cookie alone."""

from __future__ import annotations

from api.console import session

TOKEN = "s3cret"
NOW = 1_800_000_000.0


def test_a_new_session_is_valid_with_its_token_only() -> None:
    cookie = session.new_session(TOKEN, NOW)
    assert session.valid_session(TOKEN, cookie, NOW)
    assert not session.valid_session("other", cookie, NOW)  # the token changed: signed out


def test_sessions_expire_and_do_not_come_from_the_future() -> None:
    cookie = session.new_session(TOKEN, NOW)
    assert session.valid_session(TOKEN, cookie, NOW + session.MAX_AGE_SECONDS)
    assert not session.valid_session(TOKEN, cookie, NOW + session.MAX_AGE_SECONDS + 1)
    assert not session.valid_session(TOKEN, cookie, NOW - 3600)


def test_a_tampered_or_malformed_cookie_is_refused() -> None:
    cookie = session.new_session(TOKEN, NOW)
    issued, nonce, mac = cookie.split(".")
    later = f"{int(issued) + 3600}.{nonce}.{mac}"  # extending one's own session
    for bad in (later, f"{issued}.{nonce}.{'0' * 64}", "", "x", "..", "1.2", "a.b.c", cookie * 3):
        assert not session.valid_session(TOKEN, bad, NOW), bad
    assert not session.valid_session(TOKEN, None, NOW)


def test_the_csrf_token_belongs_to_one_session() -> None:
    one, two = session.new_session(TOKEN, NOW), session.new_session(TOKEN, NOW)
    assert one != two
    csrf = session.csrf_token(TOKEN, one)
    assert session.valid_csrf(TOKEN, one, csrf)
    assert not session.valid_csrf(TOKEN, two, csrf)
    assert not session.valid_csrf(TOKEN, one, None)
    assert not session.valid_csrf(TOKEN, one, "")
    assert csrf not in one  # the cookie alone does not give it away


def test_bearer_header() -> None:
    assert session.check_bearer(TOKEN, "Bearer s3cret")
    assert session.check_bearer(TOKEN, "bearer  s3cret ")
    for bad in ("Bearer wrong", "Basic s3cret", "s3cret", "", "Bearer"):
        assert not session.check_bearer(TOKEN, bad), bad
