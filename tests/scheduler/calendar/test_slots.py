"""Slot enumeration: however the sweeps cut time into pieces, each slot is found exactly once."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar.config import WEEKDAYS
from scheduler.calendar.slots import slots_between
from tests.scheduler.harness import SHANGHAI, local, make_config

START = local(2026, 11, 20, 0, 0)
SPAN = timedelta(days=10)


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    cuts=st.lists(st.integers(1, int(SPAN.total_seconds()) - 1), max_size=40, unique=True),
)
def test_sweeps_cut_anywhere_find_every_slot_once(days: list[str], hour: int, minute: int, cuts: list[int]) -> None:
    entry = {
        "id": "e",
        "when": {"weekdays": days, "time": f"{hour:02d}:{minute:02d}"},
        "to": {"all": True},
        "content": {"text": "x"},
    }
    config = make_config([entry])
    whole = [(slot.at, slot.local_date) for slot in slots_between(config, START, START + SPAN)]
    bounds = [START, *sorted(START + timedelta(seconds=c) for c in cuts), START + SPAN]
    pieces = [(slot.at, slot.local_date) for a, b in itertools.pairwise(bounds) for slot in slots_between(config, a, b)]
    assert pieces == whole
    # Ten days hold each listed weekday once or twice, at the configured local time.
    assert len(whole) in range(len(days), 2 * len(days) + 1)
    for at, day in whole:
        wall = at.astimezone(SHANGHAI)
        assert (wall.date(), wall.hour, wall.minute) == (day, hour, minute)
        assert WEEKDAYS[day.weekday()] in days
