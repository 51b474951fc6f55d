"""Venue adapters by name: adding a venue is its folder plus one line here."""

from __future__ import annotations

from perpflow.venues.base import Venue
from perpflow.venues.lighter.client import LighterVenue

_: type[Venue] = LighterVenue
