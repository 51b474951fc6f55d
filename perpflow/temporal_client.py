"""The one way every process and the CLI connects to Temporal."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from perpflow.errors import PerpflowError
from perpflow.settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    # Temporal Cloud API keys are only accepted over TLS.
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
    )


async def reach(settings: Settings) -> Client:
    """``connect`` for the CLI: an unreachable server is one line saying where and what to run."""
    try:
        return await connect(settings)
    except RuntimeError as exc:
        reason = "connection refused" if "Connection refused" in str(exc) else str(exc).splitlines()[0][:160]
        raise PerpflowError(
            f"cannot reach Temporal at {settings.temporal_address} ({reason}); is `perpflow dev` running?"
        ) from None
