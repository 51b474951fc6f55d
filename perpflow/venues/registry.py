"""Venue adapters by name: adding a venue is its folder, its ``VenueName`` and one line here.

An adapter's builders are typed to return a ``Venue`` and a ``VenueFeed``, so mypy holds every
venue's client and feed to the protocols."""

from __future__ import annotations

from collections.abc import Collection

from perpflow.venues.base import Venue, VenueAccess, VenueAdapter, VenueName
from perpflow.venues.feed import VenueFeed
from perpflow.venues.lighter import factory as lighter

ADAPTERS: dict[str, VenueAdapter] = {
    VenueName.LIGHTER: lighter.ADAPTER,
}


def adapter(name: str) -> VenueAdapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"no venue adapter named {name!r}; known: {', '.join(sorted(ADAPTERS))}") from None


def build_venue(name: str, access: VenueAccess) -> Venue:
    """Build inside a running event loop: adapters may open HTTP sessions."""
    return adapter(name).build(access)


def build_feed(name: str, url: str) -> VenueFeed:
    return adapter(name).feed(url)


def tiers(name: str) -> Collection[str]:
    return adapter(name).tiers
