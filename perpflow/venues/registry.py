"""Venue adapters by name: adding a venue is its folder, its ``VenueName`` and one line here.

An adapter's builders are typed to return a ``Venue`` and a ``VenueFeed``, so mypy holds every
venue's client and feed to the protocols."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pydantic import SecretStr

from perpflow.errors import ConfigError
from perpflow.venues.base import Venue, VenueAccess, VenueAdapter, VenueName
from perpflow.venues.feed import LoginFeed, VenueFeed
from perpflow.venues.grvt import factory as grvt
from perpflow.venues.lighter import factory as lighter

ADAPTERS: dict[VenueName, VenueAdapter] = {
    VenueName.LIGHTER: lighter.ADAPTER,
    VenueName.GRVT: grvt.ADAPTER,
}


def build_venue(name: VenueName, access: VenueAccess) -> Venue:
    """Build inside a running event loop: adapters may open HTTP sessions."""
    return ADAPTERS[name].build(access)


def build_feed(name: VenueName, url: str, logins: Mapping[int, SecretStr] | None = None) -> VenueFeed:
    """The venue's market data from ``url``; ``logins``: each account's API key (by account index)
    for a venue whose account streams log in. A venue whose streams are public takes none."""
    feed = ADAPTERS[name].feed(url)
    if logins:
        if not isinstance(feed, LoginFeed):
            raise ConfigError(f"{name}'s account streams are public: they take no login keys")
        for account_index, api_key in logins.items():
            feed.add_login(account_index, api_key)
    return feed


def tiers(name: VenueName) -> Collection[str]:
    return ADAPTERS[name].tiers
