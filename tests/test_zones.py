"""The time zones the dashboard offers (web/zones.py): the country table's canonical names, no aliases."""

from __future__ import annotations

from zoneinfo import available_timezones

from clusterdash.web import zones


def test_the_list_is_the_canonical_zones_with_the_servers_first_then_utc():
    offered = zones.choices("Europe/Zurich")
    assert offered[:2] == ["Europe/Zurich", "UTC"]
    assert len(offered) == len(set(offered)) and 350 < len(offered) < 450  # of about 600 names
    assert {"Europe/Oslo", "America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney"} <= set(offered)
    for alias in ("US/Pacific", "Etc/GMT+3", "Asia/Calcutta", "GB", "Europe/Kiev", "CET", "EST5EDT"):
        assert alias not in offered
    assert set(offered) <= available_timezones()
    assert offered[2:] == sorted(offered[2:])


def test_a_valid_zone_outside_the_list_is_added_after_utc_and_a_bad_one_is_not():
    assert zones.choices("UTC", "US/Pacific")[:3] == ["UTC", "US/Pacific", "Africa/Abidjan"]
    assert zones.choices("Asia/Tokyo", "Europe/Oslo").count("Europe/Oslo") == 1
    assert "Mars/Olympus" not in zones.choices("UTC", "Mars/Olympus")
