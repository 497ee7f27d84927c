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


def may_match_below(topic_filter: str, prefix: str) -> bool:
    """Whether the valid filter ``topic_filter`` matches any topic below ``prefix`` (a plain
    topic without wildcards), i.e. any ``<prefix>/...``."""
    levels = topic_filter.split("/")
    for index, own in enumerate(prefix.split("/")):
        if index >= len(levels):
            return False
        if levels[index] == "#":
            return True
        if levels[index] not in ("+", own):
            return False
    # The whole prefix is covered: anything further down matches some topic below it.
    return len(levels) > len(prefix.split("/"))


def remote_sensor_filter_problem(topic_filter: str, base_topic: str | None) -> str | None:
    """Why a zone may not follow ``topic_filter`` as its room sensor, or None.

    Besides being a valid filter, it must stay out of ``<base_topic>/...``: those are the
    controllers' own topics (this one's and a fleet's), and a sensor filter that takes in an
    error report would answer it with another error report, without end."""
    if (problem := filter_problem(topic_filter)) is not None:
        return f"{topic_filter!r} {problem}"
    if base_topic is not None and may_match_below(topic_filter, base_topic):
        return (
            f"{topic_filter!r} would also match the controllers' own topics under "
            f"'{base_topic}/' (commands, state, error reports); name the sensor's own topic"
        )
    return None
