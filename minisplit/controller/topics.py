"""MQTT topic filters as a config names them: syntax, and what a foreign filter may not cover.

Pure string rules (MQTT 3.1.1 §4.7), used by the config check so that a bad filter is a config
error naming its key, never a subscription that fails or a loop at run time.
"""

from __future__ import annotations

# The MQTT limit on a topic's length in UTF-8 bytes.
_MAX_TOPIC_BYTES = 65535


def filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not a valid MQTT subscription filter, or None if it is."""
    if not topic_filter:
        return "is empty"
    if "\0" in topic_filter:
        return "contains a NUL character"
    if len(topic_filter.encode("utf-8", errors="surrogatepass")) > _MAX_TOPIC_BYTES:
        return f"is longer than {_MAX_TOPIC_BYTES} bytes"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "has '#' other than as the whole last level (e.g. 'sensors/#')"
        if "+" in level and level != "+":
            return "has '+' other than as a whole level (e.g. 'sensors/+/temperature')"
    return None


def overlaps(first: str, second: str) -> bool:
    """Whether some topic matches both of the valid filters ``first`` and ``second``."""
    a, b = first.split("/"), second.split("/")
    # A wildcard first level does not match the broker's `$` topics (MQTT 3.1.1 §4.7.2).
    if a[0].startswith("$") != b[0].startswith("$"):
        return False
    for own, other in zip(a, b, strict=False):
        if "#" in (own, other):
            return True
        if own != other and "+" not in (own, other):
            return False
    if len(a) == len(b):
        return True
    # One has ended: only a '#' that follows covers it too (`a/#` matches `a`).
    longer = a if len(a) > len(b) else b
    return longer[min(len(a), len(b))] == "#"


def remote_sensor_filter_problem(
    topic_filter: str, base_topic: str | None, discovery_prefix: str | None
) -> str | None:
    """Why a zone may not follow ``topic_filter`` as its room sensor, or None.

    Besides being a valid filter, it must not take in what is no sensor's: the broker's `$`
    topics; ``<base_topic>/...``, the controllers' own topics (this one's and a fleet's), where
    a sensor filter that takes in an error report would answer it with another, without end;
    Home Assistant's status topic, which the controller handles itself (so the sensor would
    never be read), and the discovery configs under ``discovery_prefix`` (each one a reject).
    Other topics under the prefix stay allowed: Home Assistant's MQTT Statestream publishes
    its sensors' states there (``homeassistant/sensor/<entity>/state``)."""
    if (problem := filter_problem(topic_filter)) is not None:
        return f"{topic_filter!r} {problem}"
    if topic_filter.startswith("$"):
        return (
            f"{topic_filter!r} names the broker's own topics ('$SYS/...') or a shared "
            "subscription ('$share/...'), not a sensor; name the sensor's own topic"
        )
    if base_topic is not None and overlaps(topic_filter, f"{base_topic}/+/#"):
        return (
            f"{topic_filter!r} would also match the controllers' own topics under "
            f"'{base_topic}/' (commands, state, error reports); name the sensor's own topic"
        )
    if discovery_prefix is not None and any(
        overlaps(topic_filter, f"{discovery_prefix}/{levels}")
        for levels in ("status", "+/+/config", "+/+/+/config")
    ):
        return (
            f"{topic_filter!r} would also match Home Assistant's status topic "
            f"'{discovery_prefix}/status' or its discovery configs "
            f"'{discovery_prefix}/.../config'; name the sensor's own topic"
        )
    return None
