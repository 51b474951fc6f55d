"""The metrics catalogue, the endpoint's settings, the SDK forwarder, scrape-time reads and the order
gateway's counting, each without a server."""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.parser import text_string_to_metric_families

from perpflow.marketdata.metrics import Metrics
from perpflow.metrics import endpoint, instruments, names
from perpflow.metrics.names import CATALOGUE, SDK_METRICS, Kind
from perpflow.metrics.scrape import ScrapeTime, filled
from perpflow.metrics.sdk import SdkMetrics
from perpflow.orders import OrderAck, OrderIntent, observe
from perpflow.orders.errors import OrderPending
from perpflow.risk import RiskRejected
from perpflow.venues.errors import InvalidNonce, Unrepresentable
from perpflow.venues.types import OrderStatus, TimeInForce

LABEL = re.compile(r"^[a-z_][a-z0-9_]*$")


def test_every_catalogue_name_is_perpflow_s_unique_and_well_formed() -> None:
    all_names = [m.name for m in (*CATALOGUE, *SDK_METRICS)]
    assert len(all_names) == len(set(all_names))
    for m in CATALOGUE:
        assert m.name.startswith("perpflow_"), m.name
        assert m.help and all(LABEL.match(label) for label in m.labels), m
        assert not m.name.endswith("_total"), f"{m.name}: prometheus-client appends _total to counters"
        if m.kind is Kind.HISTOGRAM:
            assert m.name.endswith("_seconds"), m.name


def test_the_instruments_are_registered_as_the_catalogue_says() -> None:
    exposed = {f.name: f for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())}
    for instrument in (instruments.ORDERS_PLACED, instruments.HEDGE_LATENCY, instruments.PAYOUT_LATENCY):
        spec = names.BY_NAME[instrument._name]
        assert tuple(instrument._labelnames) == spec.labels
        assert spec.name in exposed and exposed[spec.name].type == spec.kind.value


def parsed(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    endpoint.add_arguments(parser)
    return parser.parse_args(argv)


def test_metrics_port_from_the_flag_else_the_environment_else_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERPFLOW_METRICS_PORT", raising=False)
    monkeypatch.delenv("PERPFLOW_METRICS_HOST", raising=False)
    assert endpoint.from_arguments(parsed([])) == endpoint.MetricsSettings(port=0, host="127.0.0.1")
    monkeypatch.setenv("PERPFLOW_METRICS_PORT", "9464")
    monkeypatch.setenv("PERPFLOW_METRICS_HOST", "0.0.0.0")
    assert endpoint.from_arguments(parsed([])) == endpoint.MetricsSettings(port=9464, host="0.0.0.0")
    flags = parsed(["--metrics-port", "0", "--metrics-host", "127.0.0.2"])
    assert endpoint.from_arguments(flags) == endpoint.MetricsSettings(port=0, host="127.0.0.2")
    with pytest.raises(SystemExit):
        endpoint.parse(["--metrics-prot", "1"])


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_sdk_runtime_s_metrics_come_out_as_prometheus_families() -> None:
    sdk = SdkMetrics()
    meter = sdk.runtime().metric_meter
    meter.create_counter("temporal_request", "requests").add(2, {"operation": "Poll"})
    meter.create_counter("temporal_request", "requests").add(3, {"operation": "Poll"})
    meter.create_gauge("temporal_num_pollers", "pollers").set(4, {"task_queue": "q"})
    latency = meter.create_histogram_timedelta("temporal_task_latency", "latency", unit="s")  # as the SDK's
    latency.record(timedelta(milliseconds=30), {"task_queue": "q"})
    latency.record(timedelta(seconds=2), {"task_queue": "q"})
    registry = CollectorRegistry()
    registry.register(sdk)
    got = samples(registry)
    assert got["temporal_request_total", frozenset({("operation", "Poll")})] == 5
    assert got["temporal_num_pollers", frozenset({("task_queue", "q")})] == 4
    q = ("task_queue", "q")
    assert got["temporal_task_latency_seconds_count", frozenset({q})] == 2
    assert got["temporal_task_latency_seconds_sum", frozenset({q})] == pytest.approx(2.03)
    assert got["temporal_task_latency_seconds_bucket", frozenset({q, ("le", "0.05")})] == 1
    assert got["temporal_task_latency_seconds_bucket", frozenset({q, ("le", "+Inf")})] == 2
    assert samples(registry) == got  # drained once: a second scrape adds nothing


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A process's event loop, on its own thread as a worker's main loop is to the HTTP thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


class Ledgerish:
    """A source whose reads succeed or fail as the test says."""

    def __init__(self) -> None:
        self.reads, self.fail = 0, False

    async def read(self) -> list[Family]:
        self.reads += 1
        if self.fail:
            raise ConnectionError("ledger unreachable")
        return [filled(names.PAYOUTS, [(("DONE",), self.reads)])]


def test_scrape_time_reads_run_on_the_loop_cached_and_keep_the_last_values_on_failure(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    source = Ledgerish()
    collector = ScrapeTime("test-source", source.read, loop_thread, ttl_s=3600)
    registry = CollectorRegistry()
    registry.register(collector)
    done = ("perpflow_payouts", frozenset({("state", "DONE")}))
    assert samples(registry)[done] == 1 and samples(registry)[done] == 1  # cached: read once
    assert source.reads == 1
    collector.ttl_s, source.fail = 0, True
    failures = REGISTRY.get_sample_value("perpflow_metrics_read_failures_total", {"source": "test-source"})
    assert samples(registry)[done] == 1  # the last values stay
    after = REGISTRY.get_sample_value("perpflow_metrics_read_failures_total", {"source": "test-source"})
    assert failures is not None and after == failures + 1
    source.fail = False
    assert samples(registry)[done] == 3


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def intent(key: str, **fields: object) -> OrderIntent:
    base: dict[str, object] = {
        "workflow_id": "w", "account_index": 77, "market": "ETH", "side": "buy", "size": 1, "price": 100,
    }  # fmt: skip
    return OrderIntent.model_validate({"key": key, **base, **fields})


def ack(key: str, sent_now: bool, refusal: str = "") -> OrderAck:
    return OrderAck(key=key, market="ETH", client_order_index=1, status=OrderStatus.OPEN, sent_now=sent_now,
                    refusal=refusal)  # fmt: skip


def test_the_gateway_counts_placed_refused_and_retried_orders_by_reason_and_the_hedge_latency() -> None:
    account = {"venue": "lighter", "account": "77"}
    before = {
        "placed": count("perpflow_orders_placed_total", **account, tif="ioc"),
        "margin": count("perpflow_orders_rejected_total", **account, reason="invalid_order"),
        "risk": count("perpflow_orders_rejected_total", **account, reason="risk_rejected"),
        "nonce": count("perpflow_orders_retried_total", **account, reason="invalid_nonce"),
        "pending": count("perpflow_orders_retried_total", **account, reason="order_pending"),
        "other": count("perpflow_orders_retried_total", **account, reason="other"),
        "hedges": count("perpflow_hedge_latency_seconds_count", **account),
        "latency": count("perpflow_hedge_latency_seconds_sum", **account),
    }
    hedge = intent("w/hedge", tif=TimeInForce.IOC, hedges_fill_at=datetime.now(UTC) - timedelta(seconds=1))
    observe.acked(hedge, ack("w/hedge", sent_now=True))
    observe.acked(hedge, ack("w/hedge", sent_now=False))  # a retry that found it: not placed again
    observe.acked(intent("w/b1"), ack("w/b1", sent_now=False, refusal="InvalidOrder"))
    observe.failed(intent("w/u"), Unrepresentable("size below the lot"))  # an InvalidOrder
    observe.failed(intent("w/r"), RiskRejected("HALTED"))
    observe.failed(intent("w/n"), InvalidNonce("nonce 4"))
    observe.failed(intent("w/p"), OrderPending("not visible yet"))
    observe.failed(intent("w/x"), RuntimeError("boom"))
    observe.failed(intent("w/c"), asyncio.CancelledError())  # the activity's cancel: nothing
    assert count("perpflow_orders_placed_total", **account, tif="ioc") == before["placed"] + 1
    assert count("perpflow_orders_rejected_total", **account, reason="invalid_order") == before["margin"] + 2
    assert count("perpflow_orders_rejected_total", **account, reason="risk_rejected") == before["risk"] + 1
    assert count("perpflow_orders_retried_total", **account, reason="invalid_nonce") == before["nonce"] + 1
    assert count("perpflow_orders_retried_total", **account, reason="order_pending") == before["pending"] + 1
    assert count("perpflow_orders_retried_total", **account, reason="other") == before["other"] + 1
    assert count("perpflow_hedge_latency_seconds_count", **account) == before["hedges"] + 1
    # measured from the fill it hedges, a second before the venue took it
    assert count("perpflow_hedge_latency_seconds_sum", **account) - before["latency"] >= 1.0


def test_a_hedge_s_fill_time_is_not_part_of_the_order() -> None:
    first = intent("w/h", hedges_fill_at=datetime.now(UTC))
    assert first.same_order_as(intent("w/h"))  # the ledger's copy has no fill time
    assert not first.same_order_as(intent("w/h", size=Decimal(2)))


def test_an_empty_gauge_family_has_the_catalogue_s_labels() -> None:
    family = filled(names.ACCOUNT_POSITION, [(("lighter", "1", "ETH"), -0.5)])
    assert isinstance(family, GaugeMetricFamily)
    [sample] = family.samples
    assert sample.labels == {"venue": "lighter", "account": "1", "market": "ETH"} and sample.value == -0.5


def test_docs_metrics_names_every_metric_of_the_catalogue() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    undocumented = [m.name for m in (*CATALOGUE, *SDK_METRICS) if f"`{m.name}" not in docs]
    assert not undocumented, f"docs/metrics.md does not name {undocumented}"


def test_the_market_data_worker_s_metrics_are_the_catalogue_s() -> None:
    registry = Metrics().registry
    exposed = {f.name: f for f in registry.collect()}
    market_data = [m for m in CATALOGUE if m.process is names.Process.MARKET_DATA]
    assert set(exposed) == {m.name.removesuffix("_total") for m in market_data}
    for m in market_data:
        family = exposed[m.name]
        assert family.type == m.kind.value
        labels = {k for s in family.samples for k in s.labels} - {"le"}
        assert labels == set(m.labels) or not family.samples, m
