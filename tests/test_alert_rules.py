"""Alert rules: durations and sizes, defaults, the validation of every field (each problem names the file, the
rule and the field, and all of a file's problems come at once), the example file, the round trip through plain
data, and the identity of an alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdash.alerts.rulefile import RuleError, RuleFileError, load_rules, parse_rules, rules_from_data
from clusterdash.alerts.rules import (
    Above,
    Baseline,
    Measure,
    Rule,
    SizeRange,
    Subject,
    Window,
    alert_key,
    describe,
    format_duration,
    parse_duration,
    rule_data,
    ruleset_data,
    size_bytes,
)
from clusterdash.errors import InputError, UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "alerts.example.toml"

# A valid rule as TOML key = literal lines; cases below change or drop one key.
BASE = {
    "name": '"small-reads"',
    "subject": '"user"',
    "measure": '"operations"',
    "above": "1000",
}


def toml(**changes: str | None) -> str:
    keys = {**BASE, **changes}
    return "[[rule]]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items() if value is not None)


def problems(text: str, source: str = "rules.toml") -> list[RuleError]:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, source)
    assert str(caught.value) == "\n".join(str(error) for error in caught.value.errors)
    return list(caught.value.errors)


# --- durations and sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("6h", 21600), ("2d", 172800), ("0m", 0), (" 3h ", 10800)]
)
def test_durations_are_a_whole_number_and_one_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["6", "6 h", "1.5h", "-1h", "6H", "", "1w", "1h30m", "٣h", 6, None])
def test_other_durations_are_refused_with_the_accepted_forms(text):
    with pytest.raises(ValueError, match=r"as a duration \(a whole number and m, h or d, such as 90m, 6h, 2d\)"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(5400, "90m"), (7200, "2h"), (172800, "2d"), (0, "0m"), (90000, "25h")])
def test_durations_are_written_back_in_their_largest_whole_unit(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


def test_size_tokens_use_the_logs_binary_suffixes():
    assert [size_bytes(t) for t in ("0", "512", "4K", "64K", "1M", "2G")] == [0, 512, 4096, 65536, 2**20, 2**31]
    for bad in ("4k", "4KB", "-4K", " 4K", "4 K", "K", ""):
        with pytest.raises(ValueError, match="as a size"):
            size_bytes(bad)


def test_a_size_range_keeps_the_buckets_lying_wholly_inside():
    kib = 1024
    middle = SizeRange("4K", "64K")
    assert middle.low == 4 * kib and middle.high == 64 * kib
    assert middle.contains(4 * kib, 8 * kib) and middle.contains(32 * kib, 64 * kib)
    assert not middle.contains(2 * kib, 4 * kib)  # below
    assert not middle.contains(64 * kib, 128 * kib)  # from the upper limit on
    assert not middle.contains(None, 0)  # negative sizes
    assert not middle.contains(8 * 2**20, None)  # an open bucket has no upper bound
    from_one_mib = SizeRange("1M")
    assert from_one_mib.high is None and from_one_mib.contains(8 * 2**20, None)
    assert from_one_mib.contains(2**20, 2 * 2**20) and not from_one_mib.contains(512 * kib, 2**20)
    exact = SizeRange("0", "2")
    assert exact.contains(1, 1) and exact.contains(0, 0) and not exact.contains(2, 4)
    assert not SizeRange("0", "1").contains(1, 1)  # '[1]' is the size 1, not below 1


# --- defaults and a valid file ---------------------------------------------------------------------------------


def test_a_minimal_rule_gets_the_documented_defaults():
    (rule,) = parse_rules(toml()).rules
    assert rule == Rule(name="small-reads", subject="user", measure=Measure("operations"), condition=Above(1000))
    assert rule.measure == Measure(kind="operations", direction="both", sizes=None)
    assert rule.window == Window(hours=1, mode="sum")
    assert (rule.severity, rule.cooldown, rule.recipients, rule.enabled) == ("warning", 6 * 3600, "admins", True)
    assert (rule.description, rule.min_operations) == ("", 0)
    assert rule.filters.roles == rule.filters.machine_types == rule.filters.exclude_users == ()
    assert rule.tells_admins and not rule.tells_user


def test_a_baseline_gets_its_defaults_and_fewer_weeks_lower_the_history_needed():
    (rule,) = parse_rules(toml(above=None, baseline="{ factor = 5, floor = 100_000 }")).rules
    assert rule.condition == Baseline(factor=5, floor=100_000, weeks=4, min_weeks=2, of="median_same_hour_of_week")
    (one_week,) = parse_rules(toml(above=None, baseline="{ factor = 3, floor = 0, weeks = 1 }")).rules
    assert isinstance(one_week.condition, Baseline) and one_week.condition.min_weeks == 1


def test_every_key_is_read_into_its_field():
    text = toml(
        description='"Too many small reads"',
        enabled="false",
        measure='"bytes"',
        direction='"rd"',
        sizes='["4K", "64K"]',
        window='"3h"',
        mode='"sustained"',
        above="2_000_000.5",
        roles='["stud", "guest"]',
        machine_types='["tik"]',
        exclude_users='["backup"]',
        severity='"critical"',
        cooldown='"90m"',
        recipients='"both"',
        min_operations="10",
    )
    ruleset = parse_rules(text, "site.toml")
    (rule,) = ruleset.rules
    assert ruleset.source == "site.toml" and ruleset.enabled() == () and ruleset.get("small-reads") is rule
    assert rule.measure == Measure("bytes", "rd", SizeRange("4K", "64K"))
    assert rule.window == Window(3, "sustained") and rule.condition == Above(2_000_000.5)
    assert rule.filters.roles == ("stud", "guest") and rule.filters.machine_types == ("tik",)
    assert rule.filters.exclude_users == ("backup",)
    assert (rule.severity, rule.cooldown, rule.recipients, rule.min_operations) == ("critical", 5400, "both", 10)
    assert rule.description == "Too many small reads" and not rule.enabled and rule.tells_user and rule.tells_admins


def test_the_example_file_loads_and_round_trips_through_plain_data():
    ruleset = load_rules(EXAMPLE)
    names = [rule.name for rule in ruleset.rules]
    assert names == [
        "heavy-small-reads",
        "user-on-many-machines",
        "user-spike",
        "small-io-share-by-type",
        "server-total-bytes",
    ]
    assert {rule.subject for rule in ruleset.rules} >= {"user", "machine_type", "server"}
    assert any(isinstance(rule.condition, Baseline) for rule in ruleset.rules)
    assert rules_from_data({"rule": [rule_data(rule) for rule in ruleset.rules]}, str(EXAMPLE)) == ruleset
    shown = ruleset_data(ruleset)
    assert json.loads(json.dumps(shown)) == shown  # plain data: what a read-only view or the API can send
    assert shown[0]["summary"] == describe(ruleset.rules[0])
    assert shown[0]["window"] == "3h" and shown[0]["cooldown"] == "6h" and shown[0]["recipients"] == "both"


def test_describe_says_what_a_rule_judges():
    (sustained,) = parse_rules(
        toml(measure='"small_operations"', direction='"rd"', window='"3h"', mode='"sustained"')
    ).rules
    assert describe(sustained) == (
        "a user's small read operations (at most 4 KiB) in each of 3 consecutive hours above 1,000"
    )
    text = toml(subject='"server"', measure='"bytes"', sizes='["1M"]', window='"24h"', above=None)
    (spike,) = parse_rules(text + "baseline = { factor = 5, floor = 100_000, weeks = 3 }\n").rules
    assert describe(spike) == (
        "the server's estimated bytes moved in buckets from 1M up over 24 hours above 5x its median for this hour "
        "of the week over the last 3 weeks and at least 100,000 (needs 2 of those weeks in the log)"
    )


# --- each field's problems, named by file, rule and field ------------------------------------------------------

CASES = [
    # (changes, field, part of the message)
    (dict(name=None), "name", "required"),
    (dict(name='"two words"'), "name", "is not a usable name"),
    (dict(name="5"), "name", "is not a usable name"),
    (dict(name='"' + "x" * 65 + '"'), "name", "is not a usable name"),
    (dict(description="5"), "description", "must be text"),
    (dict(enabled='"yes"'), "enabled", "must be true or false"),
    (dict(subject=None), "subject", "required"),
    (dict(subject='"users"'), "subject", "must be one of user, machine, user_machine, machine_type, role, server"),
    (dict(measure='"ops"'), "measure", "must be one of operations, bytes, small_operations, small_share, machines"),
    (dict(measure='"machines"', subject='"machine"'), "measure", "the subject must be user, not machine"),
    (dict(direction='"read"'), "direction", "must be one of rd, wr, both"),
    (dict(sizes='"4K"'), "sizes", "must be a list of one or two sizes"),
    (dict(sizes="[]"), "sizes", "must be a list of one or two sizes"),
    (dict(sizes='["1K", "2K", "4K"]'), "sizes", "must be a list of one or two sizes"),
    (dict(sizes="[4096]"), "sizes", "sizes are text"),
    (dict(sizes='["4k"]'), "sizes", "cannot read '4k' as a size"),
    (dict(sizes='["64K", "4K"]'), "sizes", "the first size must be below the second"),
    (dict(sizes='["4K", "4K"]'), "sizes", "the first size must be below the second"),
    (dict(measure='"small_operations"', sizes='["4K", "8K"]'), "sizes", "small_operations already keeps"),
    (dict(window='"90m"'), "window", "must be whole hours from 1h to 168h"),
    (dict(window='"8d"'), "window", "must be whole hours from 1h to 168h"),
    (dict(window='"0h"'), "window", "must be whole hours"),
    (dict(window="3"), "window", "cannot read 3 as a duration"),
    (dict(mode='"max"'), "mode", "must be one of sum, sustained"),
    (dict(above=None), "above", "required (or a baseline"),
    (dict(baseline="{ factor = 5, floor = 1 }"), "above", "give either above or baseline, not both"),
    (dict(above="-1"), "above", "must be a number at least 0"),
    (dict(above='"1000"'), "above", "must be a number"),
    (dict(above="true"), "above", "must be a number"),
    (dict(above="nan"), "above", "must be a number"),
    (dict(above="inf"), "above", "must be a number"),
    (dict(measure='"small_share"', above="1.5"), "above", "at least 0 and at most 1"),
    (dict(above=None, baseline="3"), "baseline", "must be a table"),
    (dict(above=None, baseline="{ floor = 1 }"), "baseline.factor", "required"),
    (dict(above=None, baseline="{ factor = 1, floor = 1 }"), "baseline.factor", "must be a number above 1"),
    (dict(above=None, baseline="{ factor = 5 }"), "baseline.floor", "required"),
    (dict(above=None, baseline="{ factor = 5, floor = -1 }"), "baseline.floor", "must be a number at least 0"),
    (dict(above=None, measure='"small_share"', baseline="{ factor = 2, floor = 2 }"), "baseline.floor", "at most 1"),
    (dict(above=None, baseline="{ factor = 5, floor = 1, weeks = 0 }"), "baseline.weeks", "from 1 to 52"),
    (dict(above=None, baseline="{ factor = 5, floor = 1, weeks = 53 }"), "baseline.weeks", "from 1 to 52"),
    (dict(above=None, baseline="{ factor = 5, floor = 1, weeks = 2.5 }"), "baseline.weeks", "whole number"),
    (
        dict(above=None, baseline="{ factor = 5, floor = 1, weeks = 3, min_weeks = 4 }"),
        "baseline.min_weeks",
        "at most weeks (3)",
    ),
    (
        dict(above=None, baseline='{ factor = 5, floor = 1, of = "mean" }'),
        "baseline.of",
        "must be one of median_same_hour_of_week",
    ),
    (
        dict(above=None, baseline="{ factor = 5, floor = 1, factr = 2 }"),
        "baseline.factr",
        "unknown key (did you mean 'factor'?)",
    ),
    (dict(roles='"stud"'), "roles", "must be a list of names"),
    (dict(roles='["stud", "stud"]'), "roles", "'stud' is listed twice"),
    (dict(roles='[""]'), "roles", "is not a name"),
    (dict(machine_types="[1]"), "machine_types", "is not a name"),
    (dict(exclude_users='["a\\nb"]'), "exclude_users", "is not a name"),
    (dict(severity='"high"'), "severity", "must be one of info, warning, critical"),
    (dict(cooldown='"31d"'), "cooldown", "must be at most 30d"),
    (dict(cooldown='"soon"'), "cooldown", "cannot read 'soon' as a duration"),
    (dict(recipients='"everyone"'), "recipients", "must be one of admins, user, both"),
    (dict(recipients='"user"', subject='"machine"'), "recipients", "a machine subject names no user"),
    (dict(recipients='"both"', subject='"server"'), "recipients", "a server subject names no user"),
    (dict(min_operations="-1"), "min_operations", "must be a whole number from 0"),
    (dict(windw='"3h"'), "windw", "unknown key (did you mean 'window'?)"),
]


@pytest.mark.parametrize(("changes", "field", "message"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_each_invalid_field_is_named_with_its_rule(changes, field, message):
    (error,) = problems(toml(**changes))
    assert isinstance(error, UserError)
    assert error.field == field and message in error.message
    named = changes.get("name", BASE["name"])
    if named is not None and named == BASE["name"]:
        assert error.rule == "small-reads"
        assert str(error).startswith(f'rules.toml: rule "small-reads": {field}: ')
    else:  # no usable name: the rule is named by its position
        assert error.rule is None and str(error).startswith(f"rules.toml: rule #1: {field}: ")


def test_all_problems_of_a_file_are_reported_together_in_file_order():
    text = (
        toml(window='"90m"', severity='"high"')
        + toml(name='"second"', measure='"ops"')
        + toml(name='"small-reads"')  # the first rule's name again
    )
    errors = problems(text, "site/rules.toml")
    assert [(e.rule, e.field) for e in errors] == [
        ("small-reads", "window"),
        ("small-reads", "severity"),
        ("second", "measure"),
        ("small-reads", "name"),
    ]
    assert errors[3].position == 3 and "rule #1 has this name already" in errors[3].message
    assert str(errors[2]).startswith('site/rules.toml: rule "second": measure: must be one of')


def test_problems_with_the_file_itself():
    (syntax,) = problems('[[rule]]\nname = "x\n', "bad.toml")
    assert str(syntax).startswith("bad.toml: not valid TOML: ") and "line 2" in str(syntax)
    (empty,) = problems("", "empty.toml")
    assert str(empty) == "empty.toml: rule: no rules: write each rule as a [[rule]] table"
    (single,) = problems('[rule]\nname = "x"\n')
    assert single.field == "rule" and "[[rule]]" in single.message
    (not_table,) = problems("rule = [1]\n")
    assert str(not_table) == "rules.toml: rule #1: must be a table: write each rule as a [[rule]] section"
    stray, _ = problems('alerts = true\n[[rule]]\nname = "x"\n')[:2]
    assert (stray.field, stray.rule) == ("alerts", None) and "unknown key" in stray.message


def test_an_unreadable_file_is_an_input_error_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(InputError, match=r"nope\.toml: cannot read the rule file"):
        load_rules(missing)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[[rule]]\nname = "caf\xe9"\n')
    with pytest.raises(RuleFileError, match=r"latin\.toml: not UTF-8 text \(line 2\)"):
        load_rules(latin)


# --- identity --------------------------------------------------------------------------------------------------


def test_an_alert_is_identified_by_rule_name_and_subject_names_encoded():
    (rule,) = parse_rules(toml()).rules
    assert alert_key(rule, Subject("user", user="alice")) == "small-reads/user=alice"
    tricky = [Subject("user", user=name) for name in ("a&machine=b", "a/b", "a%26machine%3Db", "a b", "ü")]
    keys = [alert_key(rule, subject) for subject in tricky]
    assert len(set(keys)) == len(keys)  # names that look like separators or encodings stay distinct
    assert keys[0] == "small-reads/user=a%26machine%3Db" and "/" not in keys[1].split("/", 1)[1]
    assert Subject("user_machine", user="a", machine="m1").key == "user=a&machine=m1"
    assert Subject("server").key == "server" and Subject("server").text() == "the whole server"
    assert Subject("user_machine", user="a", machine="m1").text() == "user a on machine m1"
    assert Subject("machine_type", machine_type="tik").text() == "machine type tik"
    # A rule edited in place keeps its alerts' identity (open alerts and cooldowns carry over).
    (edited,) = parse_rules(toml(above="5000", window='"3h"')).rules
    assert alert_key(edited, Subject("user", user="alice")) == alert_key(rule, Subject("user", user="alice"))


def test_a_subject_must_carry_exactly_the_names_of_its_kind():
    (rule,) = parse_rules(toml()).rules
    with pytest.raises(ValueError, match="needs user"):
        Subject("user_machine", machine="m1")
    with pytest.raises(ValueError, match="has no machine"):
        Subject("user", user="a", machine="m1")
    with pytest.raises(ValueError, match="unknown subject kind"):
        Subject("cluster")
    with pytest.raises(ValueError, match="is about user, not machine"):
        alert_key(rule, Subject("machine", machine="m1"))
