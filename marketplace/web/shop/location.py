"""Where the shopper is, for "near me" and distances: the position they chose to share
(kept in the session cookie), else the city centre (``LINLI_CITY_CENTRE``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, session

from marketplace.core.geo import distance_m

SESSION_KEY = "location"
# A shared position further than this from the centre is not in the city: the centre is
# used instead (a shopper browsing from elsewhere would otherwise see nothing "near").
SERVICE_RADIUS_M = 50_000


@dataclass(frozen=True)
class Here:
    lat: float
    lng: float
    from_device: bool

    @property
    def near(self) -> str:
        """``lat,lng`` as the catalog's ``near`` argument takes it."""
        return f"{self.lat:.4f},{self.lng:.4f}"

    def distance_to(self, location: dict[str, float] | None) -> float | None:
        if not location:
            return None
        return distance_m(self.lat, self.lng, location["lat"], location["lng"])


def centre() -> Here:
    lat, lng = (float(x) for x in current_app.config["LINLI_CITY_CENTRE"].split(","))
    return Here(lat, lng, from_device=False)


def current() -> Here:
    saved: Any = session.get(SESSION_KEY)
    if isinstance(saved, list) and len(saved) == 2:
        return Here(float(saved[0]), float(saved[1]), from_device=True)
    return centre()


def choose(lat: float, lng: float) -> bool:
    """Remember the shopper's position; False (and the centre) when it is not in the city."""
    if centre().distance_to({"lat": lat, "lng": lng}) > SERVICE_RADIUS_M:  # type: ignore[operator]
        forget()
        return False
    # About a metre is plenty, and the cookie stays short.
    session[SESSION_KEY] = [round(lat, 5), round(lng, 5)]
    return True


def forget() -> None:
    session.pop(SESSION_KEY, None)
