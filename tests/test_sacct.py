"""The sacct reader, on a corpus of every form sacct prints and of bad lines, each isolated from its neighbours."""

import random
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clusterdash.errors import BadParameter
from clusterdash.ingest.sacct import FIELDS, Job, parse_sacct, sacct_command, sacct_environment
from clusterdash.ingest.sacct_fields import MAX_NODES, read_elapsed, read_nodes, read_tres

CORPUS = Path(__file__).resolve().parent / "data" / "sacct"
ZURICH = "Europe/Zurich"
K, M, G, T = (1024**i for i in range(1, 5))


def utc(text: str) -> int:
    """The epoch of a UTC time written '2025-03-12T13:00:15'."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def read(name: str, zone: str = ZURICH):
    with open(CORPUS / name, encoding="utf-8", newline="") as f:
        return parse_sacct(f, zone)


def by_id(output) -> dict[str, Job]:
    return {job.job_id: job for job in output.jobs}


def test_every_form_is_read():
    output = read("forms.txt")
    assert output.rejected == []
    jobs = by_id(output)
    assert len(jobs) == 17

    plain = jobs["1001"]
    assert (plain.job_id_raw, plain.user, plain.account, plain.partition) == (1001, "alice", "tik", "gpu.normal")
    # 14:00:15 in Zurich in March is 13:00:15 UTC: the spec's own example block (epoch 1741784415).
    assert (plain.submit, plain.start, plain.end) == (utc("2025-03-12T12:50:00"), 1741784415, 1741784415 + 3600)
    assert (plain.elapsed, plain.nnodes, plain.nodes) == (3600, 1, ("tikgpu03",))
    assert (plain.cpus, plain.mem_bytes, plain.gpus, plain.name) == (8, 64 * G, 2, "train")
    assert plain.array_job_id is plain.array_task_id is plain.het_job_id is plain.het_offset is None

    task = jobs["1002_4"]
    assert (task.job_id_raw, task.array_job_id, task.array_task_id, task.array_tasks) == (1010, 1002, 4, None)
    assert task.mem_bytes == 4000 * M

    pending = jobs["1002_[5-9]"]
    assert (pending.job_id_raw, pending.array_job_id, pending.array_task_id) == (1002, 1002, None)
    assert pending.array_tasks == "5-9"
    assert (pending.start, pending.end, pending.nodes, pending.cpus, pending.gpus) == (None, None, (), None, None)
    throttled = jobs["1003_[1,3,5-7%2]"]
    assert (throttled.array_job_id, throttled.array_tasks) == (1003, "1,3,5-7%2")

    leader, member = jobs["1004+0"], jobs["1004+1"]
    assert (leader.job_id_raw, leader.het_job_id, leader.het_offset, leader.nodes) == (1004, 1004, 0, ("tikgpu01",))
    assert (member.job_id_raw, member.het_job_id, member.het_offset) == (1005, 1004, 1)
    assert (member.nnodes, member.nodes, member.cpus) == (2, ("arton01", "arton02"), 16)

    running = jobs["1006"]
    assert (running.state, running.end, running.elapsed) == ("RUNNING", None, 6 * 3600 + 15)

    cancelled = jobs["1008"]
    assert (cancelled.state, cancelled.state_text) == ("CANCELLED", "CANCELLED by 1234")
    assert (cancelled.account, cancelled.start, cancelled.end) == ("", None, utc("2025-03-12T08:30:00"))

    assert jobs["1009"].state == "TIMEOUT" and jobs["1009"].elapsed == 2 * 86400 + 2 * 3600
    assert jobs["1010"].state == "OUT_OF_MEMORY" and jobs["1010"].mem_bytes == 16000 * M

    multi = jobs["1011"]
    assert multi.state == "NODE_FAIL"
    assert multi.nodes == ("tikgpu01", "tikgpu02", "tikgpu03", "tikgpu05", "arton07")
    assert (multi.nnodes, multi.cpus, multi.gpus, multi.mem_bytes) == (5, 40, 10, T)

    typed = jobs["1012"]  # only typed GPU counts: their sum; MM:SS elapsed
    assert (typed.gpus, typed.mem_bytes, typed.elapsed) == (3, 512 * K, 42)
    both = jobs["1013"]  # gres/gpu= is the total when both forms are printed; gres/gpumem is not a GPU; bare mem: MB
    assert (both.gpus, both.mem_bytes, both.elapsed) == (2, 1024 * M, 12 * 60 + 34)

    assert jobs["1014"].name == "a | b|c  d é 名前"  # '|' in the last field, proved by the 13 before it
    assert jobs["1014"].mem_bytes == int(1.5 * G)
    assert (jobs["1015"].elapsed, jobs["1015"].name) == (None, "")  # INVALID; an empty name
    assert jobs["1016"].name == "crlf"  # a CRLF line end is not part of the name


def test_a_plain_text_and_an_open_file_read_the_same():
    text = (CORPUS / "forms.txt").read_text(encoding="utf-8")
    assert parse_sacct(text, ZURICH) == read("forms.txt")


def test_line_numbers_count_from_first_line():
    text = (CORPUS / "bad.txt").read_text(encoding="utf-8")
    assert [bad.line for bad in parse_sacct(text, ZURICH, first_line=101).rejected][:2] == [102, 104]


BAD_REASONS = {  # line of tests/data/sacct/bad.txt -> what its reason must say
    2: "7 fields separated by '|', expected 14: JobID|JobIDRaw|",
    4: "JobID: '4000.batch' is a job step, not a job: run sacct with -X",
    6: "JobID: 'abc' is not a job id",
    8: "JobIDRaw: '4001' is not the id of job 4000",
    10: "User: empty",
    12: "User: holds a control character, U+0007 (character 4)",  # the IO log's one rule for names
    14: "JobName: holds an invisible formatting character, U+202E (character 5)",
    16: "Account: is 256 characters long (at most 255)",
    18: "State: 'completed' is not a job state",
    20: "Submit: '2025-13-01T00:00:00' is not a time (no such date or hour)",
    22: "Start: '2025-02-30T10:00:00' is not a time (no such date or hour)",
    24: "Elapsed: '1:2:3:4' is not a duration",
    26: "NNodes: 'two' is not a node count",
    28: "NodeList: 'tik[03-01]' is not a host list (start > stop)",
    30: "NodeList: 'tikgpu[01-03]' names 3 nodes but NNodes is 1",
    32: "AllocTRES: item 'mem' is not key=value",
    34: "AllocTRES: mem='64X' is not a size",
    36: "the line has 15 fields: a '|' in a name before JobName?",
    38: "NodeList: 'n[1-99999999]' is not a host list (range too large)",
    40: "NodeList: node name 'arton\\x0101': holds a control character, U+0001 (character 6)",
    42: "Partition: holds an invisible formatting character, U+2066 (character 2)",
    44: "JobID: '4000_[5-9x]' is not a job id",
    46: "AllocTRES: 'cpu=2,mem=999999999999999P,node=1': a count beyond 9223372036854775807",
    48: "End: '0000-01-01T00:00:00' is not a time (no such date or hour)",
}


def test_bad_lines_are_reported_with_their_number_and_reason_and_their_neighbours_read():
    output = read("bad.txt")
    lines = (CORPUS / "bad.txt").read_text(encoding="utf-8").split("\n")
    assert {bad.line: bad.text for bad in output.rejected} == {n: lines[n - 1] for n in BAD_REASONS}
    for bad in output.rejected:
        assert BAD_REASONS[bad.line] in bad.reason, (bad.line, bad.reason)
    # Every good line around them: 5000, 5001, ... one between each pair of bad lines, none lost or shifted.
    assert [job.job_id for job in output.jobs] == [str(5000 + i) for i in range(len(BAD_REASONS) + 1)]
    assert {job.name for job in output.jobs} == {"ok"}


def test_a_header_line_is_accepted_in_any_case_and_anywhere():
    output = read("header.txt")
    assert (output.headers, output.rejected) == (2, [])
    assert [job.job_id for job in output.jobs] == ["2001", "2002_1", "2004"]


def test_a_header_that_does_not_match_rejects_the_lines_under_it():
    output = read("header_mismatch.txt")
    assert [job.job_id for job in output.jobs] == ["2100", "2103"]  # before it, and under the next good header
    header, *under = output.rejected
    assert header.line == 2
    assert "header lists 15 fields JobID|JobIDRaw|" in header.reason
    assert f"expected 14: {'|'.join(FIELDS)}" in header.reason
    assert "(unexpected Comment)" in header.reason
    assert [(bad.line, bad.reason) for bad in under] == [
        (3, "under the header at line 2, which does not match"),
        (4, "under the header at line 2, which does not match"),
    ]


@pytest.mark.parametrize(
    "header, detail",
    [
        ("JobID|JobIDRaw|User", "missing Account, Partition, State"),
        ("JobID|JobIDRaw|User|Account|Partition|State|Submit|Start|End|Elapsed|NNodes|AllocTRES|NodeList|JobName",
         "the same fields in another order"),
        ("JobID|JobIDRaw|User|Account|Partition|State|Submit|Start|End|Elapsed|NNodes|NodeList|AllocTRES|JobName|JobID",
         "a field repeated"),
    ],
)  # fmt: skip
def test_header_mismatches_say_what_differs(header, detail):
    (bad,) = parse_sacct(header + "\n", ZURICH).rejected
    assert detail in bad.reason


def test_daylight_saving_hours_in_zurich():
    jobs = by_id(read("dst.txt"))
    # Spring, 2025-03-30: 02:00 CET jumps to 03:00 CEST. 01:30 CET is 00:30 UTC, 03:30 CEST is 01:30 UTC.
    assert (jobs["3001"].start, jobs["3001"].end) == (utc("2025-03-30T00:30:00"), utc("2025-03-30T01:30:00"))
    # A time in the skipped hour: the offset before the jump (02:30 read as CET, i.e. 03:30 CEST).
    assert jobs["3002"].submit == utc("2025-03-30T01:30:00")
    # Autumn, 2025-10-26: 03:00 CEST goes back to 02:00 CET, so 02:xx happens twice (00:xx and 01:xx UTC).
    # Elapsed says the end is in the second pass...
    assert (jobs["3003"].start, jobs["3003"].end) == (utc("2025-10-26T00:10:00"), utc("2025-10-26T01:50:00"))
    # ...or in the first one;
    assert (jobs["3004"].start, jobs["3004"].end) == (utc("2025-10-26T00:10:00"), utc("2025-10-26T00:50:00"))
    # an end that reads earlier than its start is in the second pass;
    assert (jobs["3005"].start, jobs["3005"].end) == (utc("2025-10-26T00:50:00"), utc("2025-10-26T01:10:00"))
    # a start that reads earlier than its submit is in the second pass;
    assert (jobs["3006"].submit, jobs["3006"].start) == (utc("2025-10-26T00:50:00"), utc("2025-10-26T01:10:00"))
    # with no evidence, the first pass (fold 0);
    assert jobs["3007"].submit == utc("2025-10-26T00:30:00")
    # and the hours around the repeated one are plain.
    assert (jobs["3008"].start, jobs["3008"].end) == (utc("2025-10-25T23:45:00"), utc("2025-10-26T02:15:00"))
    assert jobs["3008"].end - jobs["3008"].start == jobs["3008"].elapsed


def test_local_times_round_trip_over_random_instants_of_a_year():
    """Any instant outside the repeated autumn hour, printed as sacct prints it, reads back as itself."""
    rng = random.Random(15)
    tz = ZoneInfo(ZURICH)
    year = utc("2025-01-01T00:00:00")
    lines, expected = [], []
    for i in range(2000):
        start = year + rng.randrange(365 * 86400)
        end = start + rng.randrange(3 * 86400)
        texts = [datetime.fromtimestamp(t, tz).strftime("%Y-%m-%dT%H:%M:%S") for t in (start, end)]
        lines.append(f"{i + 1}|{i + 1}|u|a|p|COMPLETED|{texts[0]}|{texts[0]}|{texts[1]}|00:00:00|1|n1|cpu=1|x")
        expected.append((start, end))
    # 02:xx on 2025-10-26 names two instants; the elapsed column here (0) cannot tell them apart, so skip those.
    repeated = range(utc("2025-10-26T00:00:00"), utc("2025-10-26T02:00:00"))
    jobs = parse_sacct("\n".join(lines), ZURICH).jobs
    checked = 0
    for job, (start, end) in zip(jobs, expected):
        if start not in repeated and end not in repeated:
            assert (job.submit, job.start, job.end) == (start, start, end)
            checked += 1
    assert checked > 1900


def test_times_beyond_the_calendar_are_bad_lines_in_any_zone():
    line = "1|1|u|a|p|COMPLETED|{0}|{0}|{0}|00:00:00|1|n1|cpu=1|x"
    for zone in ("Pacific/Pago_Pago", "Pacific/Kiritimati", "UTC"):
        for text in ("0001-01-01T00:00:00", "9999-12-31T23:59:59"):
            output = parse_sacct(line.format(text), zone)
            assert len(output.jobs) + len(output.rejected) == 1
            assert all("no such date or hour" in bad.reason for bad in output.rejected)


def test_an_unknown_zone_is_a_bad_parameter():
    with pytest.raises(BadParameter, match="tz"):
        parse_sacct("", "Mars/Olympus")


def test_the_command_for_a_window():
    since, until = utc("2025-03-12T13:00:00"), utc("2025-03-12T14:00:00")
    assert sacct_command(since, until, ZURICH) == [
        "sacct",
        "--allusers",
        "--parsable2",
        "--noheader",
        "-X",
        "--format=JobID,JobIDRaw,User,Account,Partition,State,Submit,Start,End,Elapsed,NNodes,NodeList,AllocTRES,JobName",
        "--starttime",
        "2025-03-12T14:00:00",
        "--endtime",
        "2025-03-12T15:00:00",
    ]
    assert sacct_command(since, until, "UTC", program="/opt/slurm/bin/sacct")[0] == "/opt/slurm/bin/sacct"
    assert sacct_command(since, until, "UTC")[-3::2] == ["2025-03-12T13:00:00", "2025-03-12T14:00:00"]
    assert sacct_environment(ZURICH) == {"TZ": "Europe/Zurich", "SLURM_TIME_FORMAT": "standard"}


def test_the_command_widens_a_window_edge_in_the_repeated_hour():
    # 00:30 UTC on 2025-10-26 is 02:30 CEST, whose text sacct could read as 02:30 CET, an hour later.
    command = sacct_command(utc("2025-10-26T00:30:00"), utc("2025-10-26T01:30:00"), ZURICH)
    assert command[-3::2] == ["2025-10-26T01:30:00", "2025-10-26T03:30:00"]
    plain = sacct_command(utc("2025-10-26T03:00:00"), utc("2025-10-26T04:00:00"), ZURICH)
    assert plain[-3::2] == ["2025-10-26T04:00:00", "2025-10-26T05:00:00"]


def test_progress_orders_the_records_of_one_job():
    line = "7|7|u|a|p|{state}|2025-03-12T10:00:00|{start}|{end}|{elapsed}|1|{nodes}|{tres}|x"
    pending = line.format(state="PENDING", start="Unknown", end="Unknown", elapsed="00:00:00", nodes="None assigned",
                          tres="")  # fmt: skip
    running = line.format(state="RUNNING", start="2025-03-12T10:05:00", end="Unknown", elapsed="00:10:00",
                          nodes="n1", tres="cpu=1")  # fmt: skip
    later = line.format(state="RUNNING", start="2025-03-12T10:05:00", end="Unknown", elapsed="00:20:00",
                        nodes="n1", tres="cpu=1")  # fmt: skip
    done = line.format(state="COMPLETED", start="2025-03-12T10:05:00", end="2025-03-12T11:00:00", elapsed="00:55:00",
                       nodes="n1", tres="cpu=1")  # fmt: skip
    requeued = line.format(state="RUNNING", start="2025-03-12T11:10:00", end="Unknown", elapsed="00:01:00",
                           nodes="n2", tres="cpu=1")  # fmt: skip
    jobs = parse_sacct("\n".join([pending, running, later, done, requeued]), ZURICH).jobs
    assert sorted(jobs, key=lambda job: job.progress) == jobs
    assert max(reversed(jobs), key=lambda job: job.progress).nodes == ("n2",)


def test_job_records_are_frozen():
    job = read("forms.txt").jobs[0]
    with pytest.raises(AttributeError):
        job.user = "mallory"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, seconds",
    [("00:00:00", 0), ("01:02:03", 3723), ("1-00:00:01", 86401), ("12-23:59:59", 12 * 86400 + 86399),
     ("05:07", 307), ("05:07.250", 307), ("INVALID", None)],
)  # fmt: skip
def test_elapsed_forms(text, seconds):
    assert read_elapsed(text) == seconds


@pytest.mark.parametrize(
    "text, cpus, mem, gpus",
    [("", None, None, None), ("cpu=4", 4, None, 0), ("mem=2T,cpu=1", 1, 2 * T, 0), ("mem=100K", None, 100 * K, 0),
     ("cpu=2,gres/gpu:rtx3090=1,gres/gpu:a100=2", 2, None, 3), ("gres/gpuutil=50,gres/gpumem=8G", None, None, 0),
     ("energy=12,fs/disk=4,license/matlab=1,billing=3", None, None, 0)],
)  # fmt: skip
def test_alloc_tres_forms(text, cpus, mem, gpus):
    tres = read_tres(text)
    assert (tres.cpus, tres.mem_bytes, tres.gpus) == (cpus, mem, gpus)


def test_node_lists_expand_in_order_and_stay_bounded():
    assert read_nodes("tikgpu[01-03,05],arton07") == ("tikgpu01", "tikgpu02", "tikgpu03", "tikgpu05", "arton07")
    assert read_nodes("a[1-2]b[3,5],c") == ("a1b3", "a1b5", "a2b3", "a2b5", "c")
    assert read_nodes("None assigned") == ()
    many = ",".join(f"n{i}[0-{MAX_NODES // 4}]" for i in range(5))  # each part allowed, together too many
    with pytest.raises(ValueError, match=f"more than {MAX_NODES} nodes"):
        read_nodes(many)
