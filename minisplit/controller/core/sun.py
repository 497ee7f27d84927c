"""The sun at a site (pure): how high it stands at a moment, the global horizontal irradiance
of a clear sky then, and what a cloud cover leaves of it. Turns a weather forecast that gives
only cloud cover (Home Assistant's `cloud_coverage`) into the sun the control looks ahead to
(`controller.core.forecast`). docs/mqtt.md, "Weather forecast".

The sun's position is the Astronomical Almanac's low-precision formula (within about 0.01° in
declination this century, far finer than an hourly cloud cover); the clear sky is Haurwitz's
(1945), the cloud's share Kasten and Czeplak's (1980)."""

from __future__ import annotations

import math

_DAY_S = 86400.0
_J2000_UNIX_S = 946728000.0  # 2000-01-01 12:00 UTC, the epoch of the formula
OKTAS = 8.0  # a sky's cloud cover is counted in eighths


def cos_zenith(latitude: float, longitude: float, utc_s: float) -> float:
    """The cosine of the sun's zenith angle at the site (degrees, east and north positive) at
    Unix time ``utc_s``: 1 with the sun overhead, 0 on the horizon, below 0 at night."""
    n = (utc_s - _J2000_UNIX_S) / _DAY_S
    mean_longitude = 280.460 + 0.9856474 * n
    anomaly = math.radians(357.528 + 0.9856003 * n)
    ecliptic = math.radians(
        mean_longitude + 1.915 * math.sin(anomaly) + 0.020 * math.sin(2.0 * anomaly)
    )
    obliquity = math.radians(23.439 - 0.0000004 * n)
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic))
    right_ascension = math.atan2(math.cos(obliquity) * math.sin(ecliptic), math.cos(ecliptic))
    sidereal_deg = 280.46061837 + 360.98564736629 * n  # Greenwich's mean sidereal time
    hour_angle = math.radians(sidereal_deg + longitude) - right_ascension
    phi = math.radians(latitude)
    return math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(declination) * math.cos(
        hour_angle
    )


def clear_sky_w_m2(cos_z: float) -> float:
    """Global horizontal irradiance under a clear sky (Haurwitz), W/m²; 0 with the sun down."""
    if cos_z <= 0.0:
        return 0.0
    return 1098.0 * cos_z * math.exp(-0.057 / cos_z)


def cloudy_w_m2(clear_w_m2: float, cloud_pct: float) -> float:
    """What a cloud cover of ``cloud_pct`` (0..100 %) leaves of the clear sky's irradiance
    (Kasten–Czeplak: a full overcast lets a quarter through)."""
    oktas = OKTAS * min(max(cloud_pct, 0.0), 100.0) / 100.0
    return clear_w_m2 * (1.0 - 0.75 * math.pow(oktas / OKTAS, 3.4))


def solar_from_cloud(latitude: float, longitude: float, utc_s: float, cloud_pct: float) -> float:
    """The global horizontal irradiance (W/m²) at the site at ``utc_s`` under ``cloud_pct``."""
    return cloudy_w_m2(clear_sky_w_m2(cos_zenith(latitude, longitude, utc_s)), cloud_pct)
