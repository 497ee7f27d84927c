"""The sun at a site: its height, the clear sky's irradiance, what clouds leave of it."""

import math
from datetime import UTC, datetime

import pytest

from minisplit.controller.core.sun import (
    clear_sky_w_m2,
    cloudy_w_m2,
    cos_zenith,
    solar_from_cloud,
)

ZURICH = (47.37, 8.54)


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def zenith_deg(latitude: float, longitude: float, at: str) -> float:
    return math.degrees(math.acos(cos_zenith(latitude, longitude, utc(at))))


def test_the_sun_stands_where_the_almanac_puts_it():
    # At solar noon the zenith angle is the latitude less the declination (±23.44° at the
    # solstices, 0 at the equinox).
    assert zenith_deg(51.48, 0.0, "2026-06-21T12:02") == pytest.approx(51.48 - 23.44, abs=0.2)
    assert zenith_deg(51.48, 0.0, "2026-12-21T11:58") == pytest.approx(51.48 + 23.44, abs=0.2)
    assert zenith_deg(0.0, 0.0, "2026-03-20T12:07") == pytest.approx(0.0, abs=0.6)
    # East is positive: Sydney's solar noon comes about 10 h before Greenwich's.
    assert zenith_deg(-33.87, 151.21, "2026-12-21T01:55") == pytest.approx(10.4, abs=0.3)


def test_no_sun_at_night():
    assert cos_zenith(*ZURICH, utc("2026-06-21T23:00")) < 0
    assert solar_from_cloud(*ZURICH, utc("2026-06-21T23:00"), 0.0) == 0.0
    assert clear_sky_w_m2(-0.3) == 0.0 and clear_sky_w_m2(0.0) == 0.0


def test_a_summer_noon_is_sunnier_than_a_winter_one_and_a_morning():
    summer = solar_from_cloud(*ZURICH, utc("2026-06-21T11:30"), 0.0)
    winter = solar_from_cloud(*ZURICH, utc("2026-12-21T11:30"), 0.0)
    morning = solar_from_cloud(*ZURICH, utc("2026-06-21T05:30"), 0.0)
    assert 850 < summer < 1000  # Haurwitz at a zenith of ~24°
    assert 150 < winter < 350
    assert 0 < morning < summer / 2


def test_clouds_take_sun_away_a_full_overcast_most():
    clear = clear_sky_w_m2(0.8)
    assert cloudy_w_m2(clear, 0.0) == clear
    half = cloudy_w_m2(clear, 50.0)
    overcast = cloudy_w_m2(clear, 100.0)
    assert overcast < half < clear
    assert overcast == pytest.approx(0.25 * clear)
    noon = utc("2026-06-21T11:30")
    assert solar_from_cloud(*ZURICH, noon, 100.0) < solar_from_cloud(*ZURICH, noon, 0.0)
