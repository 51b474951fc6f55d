"""The GRVT session cookie: its expiry read from Set-Cookie, renewed well before it."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr

from perpflow.venues.errors import AuthError
from perpflow.venues.grvt.auth import Session, parse_cookie, renew_margin

DAY = 86_400.0


def test_the_expiry_is_read_as_gmt_and_max_age_counts_from_the_login() -> None:
    value, expires = parse_cookie("gravity=abc; Path=/; Expires=Wed, 26 Nov 2026 10:00:00 GMT; HttpOnly", 0.0)
    assert (value, expires) == ("abc", 1795687200.0)
    assert parse_cookie("gravity=x; Max-Age=30", 100.0) == ("x", 130.0)


@pytest.mark.parametrize(
    "header", [None, "other=1; Expires=Wed, 26 Nov 2026 10:00:00 GMT", "gravity=abc; Path=/"]
)
def test_a_login_answer_without_a_dated_gravity_cookie_is_an_auth_error(header: str | None) -> None:
    with pytest.raises(AuthError):
        parse_cookie(header, 0.0)


def test_renewal_starts_a_tenth_of_the_lifetime_early_never_later_than_half() -> None:
    assert renew_margin(DAY) == pytest.approx(DAY / 10)  # 2.4 h, where the SDK waits for the last 5 s
    assert renew_margin(300.0) == 60.0
    assert renew_margin(4.0) == 2.0


async def test_a_session_falls_due_ahead_of_its_expiry_and_when_refused() -> None:
    now = [1000.0]
    async with aiohttp.ClientSession() as http:
        session = Session(http, "http://127.0.0.1:9/edge", SecretStr("k"), clock=lambda: now[0])
        assert session.due()  # never logged in
        session._cookie, session.issued_at, session.expires_at = "c", 1000.0, 1000.0 + DAY
        assert not session.due()
        now[0] = 1000.0 + DAY * 0.89
        assert not session.due()
        now[0] = 1000.0 + DAY * 0.91
        assert session.due()
        now[0] = 1000.0
        session.expire()
        assert session.due()
