"""Time-sortable record ids (UUIDv7, RFC 9562) and the canonical time format."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """A UUIDv7 string. Ids made in one process sort in the order they were made:
    within one millisecond a 12-bit counter (seeded at random) keeps them increasing."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return str(uuid.UUID(int=value))


def format_time(moment: datetime) -> str:
    """The one stored form of a time: UTC, a four-digit year, microseconds, a trailing
    Z (`0999-12-31T00:00:00.000000Z`). Strings in this form sort in time order, which
    the stores rely on. (strftime's %Y does not pad years below 1000.)"""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def day_start(day: date) -> str:
    """The stored form of the midnight that starts `day`."""
    return f"{day.isoformat()}T00:00:00.000000Z"


def day_end(day: date) -> str:
    """The stored form of the midnight after `day`, an exclusive end; for the
    calendar's last day, which has no day after, its last microsecond."""
    if day == date.max:
        return "9999-12-31T23:59:59.999999Z"
    return day_start(day + timedelta(days=1))


def just_after(stored: str) -> str:
    """The stored form of the microsecond after `stored`: an exclusive end that
    includes `stored` itself (the calendar's last microsecond is its own end)."""
    moment = parse_stored_time(stored)
    if moment.replace(tzinfo=None) >= datetime.max - timedelta(microseconds=1):
        return "9999-12-31T23:59:59.999999Z"
    return format_time(moment + timedelta(microseconds=1))


def now() -> str:
    return format_time(datetime.now(timezone.utc))


def parse_stored_time(text: str) -> datetime:
    """A stored time as an aware UTC datetime; ValueError if `text` is not one. Also
    reads the unpadded years (`999-12-31T…`) that files written before the fix hold
    until `SQLiteStore` repairs them on open."""
    # fromisoformat reads the stored form ~20x faster than strptime.
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:
        year, dash, rest = text.partition("-")
        if not (dash and year.isdigit() and len(year) < 4 and text.endswith("Z")):
            raise
        return datetime.fromisoformat(f"{int(year):04d}-{rest[:-1]}").replace(tzinfo=timezone.utc)
