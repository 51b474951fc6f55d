"""The processes' log: an expected failure (a venue refusal, a retry, a shutdown's cancellation) is
one line naming its type and text; an unexpected one keeps its traceback."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest
from temporalio.exceptions import ApplicationError

from perpflow.errors import ConfigError
from perpflow.process import LOG_FORMAT, OneLineExpected
from perpflow.venues.errors import InvalidNonce


def logged(exc: BaseException, message: str = "Completing activity as failed (%s)") -> str:
    try:
        raise exc
    except BaseException:
        record = logging.getLogger("temporalio.activity").makeRecord(
            "temporalio.activity", logging.WARNING, __file__, 1, message, ("ctx",), exc_info=sys.exc_info()
        )
    return OneLineExpected(LOG_FORMAT).format(record)


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (ApplicationError("post-only order would cross", type="InvalidOrder", non_retryable=True),
         "InvalidOrder: post-only order would cross"),
        (ApplicationError("429 from the venue", type="RateLimited"), "RateLimited: 429 from the venue"),
        (InvalidNonce("expected 7, got 5\nsecond line"), "InvalidNonce: expected 7, got 5"),
        (ConfigError("signer.yaml: accounts: field required"), "ConfigError: signer.yaml: accounts"),
        (asyncio.CancelledError(), "CancelledError"),
    ],
)  # fmt: skip
def test_an_expected_failure_is_one_line(exc: BaseException, said: str) -> None:
    line = logged(exc)
    assert "\n" not in line
    assert "Traceback" not in line
    assert "Completing activity as failed (ctx): " in line
    assert said in line
    kind = said.partition(":")[0]
    assert f"{kind}: {kind}" not in line  # the type named once


def test_an_unexpected_failure_keeps_its_traceback() -> None:
    text = logged(KeyError("level"))
    assert "Traceback (most recent call last)" in text
    assert "KeyError: 'level'" in text
