"""Time on the logical clock: kubectl's AGE text and RFC 3339 timestamps.

The cluster never reads wall time. A timestamp is a whole number of seconds on the logical
clock; second 0 is `EPOCH` so that `-o yaml` can show a stable `creationTimestamp`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def rfc3339(seconds: int) -> str:
    """`creationTimestamp` spelling: `2024-01-19T08:00:00Z`."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(seconds: int) -> str:
    """kubectl's AGE column: a port of apimachinery `duration.HumanDuration`.

    Precision drops as the age grows (`45s`, `5m3s`, `2h10m`, `17d`, `2y30d`), which is why an
    18-day-old pod shows `18d` and a 90-second-old one `90s`.
    """
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_duration(text: str) -> int:
    """`30s`, `5m`, `2h`, `18d`, `1h30m` -> seconds. Raises ValueError on anything else."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            raise ValueError(text)
    if number or not text:
        if number and total == 0:
            return int(number)
        raise ValueError(text)
    return total
