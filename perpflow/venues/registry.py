"""Venue adapters by name: adding a venue is its folder, its ``VenueName`` and one line here.

An adapter's builders are typed to return a ``Venue`` and a ``VenueFeed``, so mypy holds every
venue's client and feed to the protocols."""

from __future__ import annotations

from collections.abc import Collection

from perpflow.venues.base import Venue, VenueAccess, VenueAdapter, VenueName
from perpflow.venues.feed import VenueFeed
from perpflow.venues.grvt import factory as grvt
from perpflow.venues.lighter import factory as lighter

ADAPTERS: dict[VenueName, VenueAdapter] = {
    VenueName.LIGHTER: lighter.ADAPTER,
    VenueName.GRVT: grvt.ADAPTER,
}


def build_venue(name: VenueName, access: VenueAccess) -> Venue:
    """Build inside a running event loop: adapters may open HTTP sessions."""
    return ADAPTERS[name].build(access)


def build_feed(name: VenueName, url: str) -> VenueFeed:
    return ADAPTERS[name].feed(url)


def tiers(name: VenueName) -> Collection[str]:
    return ADAPTERS[name].tiers
