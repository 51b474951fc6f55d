"""GRVT's error bodies and HTTP failures as perpflow's typed venue errors."""

from __future__ import annotations

import pytest

from perpflow.orders.errors import REFUSALS
from perpflow.venues.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    RateLimited,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from perpflow.venues.grvt import errors


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (1000, 401, errors.SessionRefused),
        (1008, 401, AuthError),
        (1400, 403, AuthError),
        (2000, 403, AuthError),
        (2002, 400, errors.SignatureRejected),
        (2001, 400, errors.SignatureRejected),
        (2006, 400, errors.SignatureRejected),
        (1006, 429, RateLimited),
        (2080, 400, InsufficientMargin),
        (2012, 400, errors.DuplicateOrder),
        (2064, 400, InvalidOrder),
        (2090, 429, InvalidOrder),
        (2401, 400, InvalidOrder),
        (1004, 404, errors.OrderNotFound),
        (1002, 500, VenueUnavailable),
    ],
)
def test_each_error_code_is_its_typed_error(code: int, status: int, kind: type[VenueError]) -> None:
    failure = errors.from_http(status, {"code": code, "message": "m", "status": status}, {})
    assert type(failure) is kind
    assert f"grvt {code}" in str(failure)


def test_a_429_waits_as_long_as_the_venue_asks_or_a_second() -> None:
    asked = errors.from_http(429, {"code": 1006, "message": "slow down", "status": 429}, {"Retry-After": "3"})
    assert isinstance(asked, RateLimited) and asked.retry_after == 3.0
    bare = errors.from_http(429, "Too Many Requests", {})
    assert isinstance(bare, RateLimited) and bare.retry_after == 1.0


def test_http_failures_without_a_body() -> None:
    assert type(errors.from_http(502, "<html>bad gateway</html>", {})) is VenueUnavailable
    assert type(errors.from_http(401, "", {})) is errors.SessionRefused
    assert type(errors.from_http(403, "", {})) is AuthError
    assert type(errors.from_http(200, "not json", {})) is TransportError
    assert errors.from_http(200, {"result": {}}, {}) is None


def test_refusals_are_never_retried_and_a_duplicate_or_rate_limit_is() -> None:
    for refusal in (
        errors.SignatureRejected("x"),
        InsufficientMargin("x"),
        InvalidOrder("x"),
        AuthError("x"),
    ):
        assert isinstance(refusal, REFUSALS)
    for retried in (errors.DuplicateOrder("x"), RateLimited("x", 1.0), errors.OrderNotFound("x")):
        assert not isinstance(retried, REFUSALS)
