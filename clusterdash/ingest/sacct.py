"""Jobs from Slurm's accounting: the text `sacct` prints in, `Job` records and `BadLine`s out. Pure: no I/O.

The command (`sacct_command` builds it for a window; run it with `sacct_environment` so that its times are in the
cluster's zone and in the standard format):

    sacct --allusers --parsable2 --noheader -X \\
      --format=JobID,JobIDRaw,User,Account,Partition,State,Submit,Start,End,Elapsed,NNodes,NodeList,AllocTRES,JobName \\
      --starttime 2025-03-12T14:00:00 --endtime 2025-03-12T15:00:00

The same fields with sacct's header line (without --noheader) are read too; a header that lists other fields
rejects the lines under it, with a reason naming the fields expected and found.

How the forms sacct prints are read:
  * `123_4` is task 4 of array job 123; `123_[5-9]` (or `123_[1,3,5-7%2]`) is the record of an array's pending
    tasks: array_tasks keeps the list. JobIDRaw identifies a record: the pending record of array 123 has JobIDRaw 123
    and becomes the last task to start, so storage keyed by job_id_raw updates it in place.
  * `123+1` is component 1 of heterogeneous job 123, a job of its own (its own JobIDRaw, nodes and TRES).
  * A job step (`123.batch`) means -X was left out: the line is rejected saying so.
  * `Unknown` and `None` times are None; a RUNNING job has no end. State is the first word of `CANCELLED by 1234`;
    state_text keeps the whole.
  * Times are the cluster's local time, converted with the zone given (an IANA name). A time in the hour that the
    zone repeats in autumn names two instants; the job's Submit <= Start <= End and its Elapsed (Slurm's own
    count, from epochs) choose between them, and with no such evidence it is the first (fold 0, summer time).
    A time in the hour skipped in spring (which sacct never prints for a real instant) is read with the offset
    in force before the jump, fold 0 again. One rule, `sacct_fields.LocalTimes`.
  * JobName is the one free-text field a user chooses and the last one, so a line with more than 14 fields is read
    as a name holding '|' when its first 13 fields all read as they must; a '|' earlier would shift a time or
    'Unknown' into Elapsed, which no valid line has there. (A --parsable line, with a trailing '|', is read the
    same way and its name ends with '|': use --parsable2.)
  * Names (user, account, partition, job, nodes) follow the IO log's one rule for names (ingest/names.py: at most
    255 characters, no control or invisible formatting character); a line breaking it is rejected, as is one whose
    NodeList disagrees with NNodes.
Nothing is dropped: every line is a Job, a BadLine (line number, text, reason) or blank.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from clusterdash.db.jobs.records import Progress, job_progress
from clusterdash.db.periods import HOUR, zone
from clusterdash.ingest.names import MAX_NAME_LENGTH, has_unsafe_character
from clusterdash.ingest.sacct_fields import (
    PLAIN_JOB,
    FieldError,
    LocalTimes,
    check_name,
    choose_instants,
    plain_text,
    read_count,
    read_elapsed,
    read_job_id,
    read_nodes,
    read_state,
    read_tres,
)

FIELDS = (
    "JobID",
    "JobIDRaw",
    "User",
    "Account",
    "Partition",
    "State",
    "Submit",
    "Start",
    "End",
    "Elapsed",
    "NNodes",
    "NodeList",
    "AllocTRES",
    "JobName",
)
SEPARATOR = "|"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # sacct's standard format, for --starttime/--endtime and what it prints
_HEADER = tuple(name.lower() for name in FIELDS)


@dataclass(frozen=True, slots=True)
class Job:
    """One job as sacct printed it. Times are UTC epochs; None where sacct printed Unknown or None."""

    job_id: str  # as printed: 123, 123_4, 123_[5-9], 123+1
    job_id_raw: int  # the record's identity
    array_job_id: int | None  # 123 of 123_4 and of 123_[5-9]
    array_task_id: int | None  # 4 of 123_4 (None for the pending record 123_[5-9])
    array_tasks: str | None  # '5-9' of 123_[5-9]: the tasks not started yet
    het_job_id: int | None  # 123 of 123+1
    het_offset: int | None  # 1 of 123+1
    user: str
    account: str
    partition: str
    state: str  # the state word: COMPLETED, CANCELLED, RUNNING, OUT_OF_MEMORY...
    state_text: str  # as printed: CANCELLED by 1234
    submit: int | None
    start: int | None
    end: int | None
    elapsed: int | None  # seconds; None for INVALID
    nnodes: int
    nodes: tuple[str, ...]  # expanded NodeList; () before an allocation
    cpus: int | None  # None: no AllocTRES printed (not allocated)
    mem_bytes: int | None
    gpus: int | None
    name: str

    @property
    def progress(self) -> Progress:
        """Orders two records of the same job_id_raw: the greater is the newer news (db.jobs.records.job_progress)."""
        return job_progress(self.start, self.end, self.elapsed)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a job, kept for inspection like the IO log's rejected lines."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class SacctOutput:
    jobs: list[Job]
    rejected: list[BadLine]
    headers: int  # header lines seen (matching or not)


def sacct_command(since: int, until: int, zone_name: str, program: str = "sacct") -> list[str]:
    """The sacct argv that lists the jobs active in [since, until) (epochs), with the window in the zone's local
    time (what sacct reads). sacct takes its end as inclusive and a repeated autumn hour as either instant, so the
    window is widened by an hour at an ambiguous edge: the overlap is harmless, a re-read changes nothing."""
    tz = zone(zone_name)

    def local(epoch: int, widen: int) -> str:
        text = datetime.fromtimestamp(epoch, tz).strftime(TIME_FORMAT)
        if len(LocalTimes(tz).read(text)) > 1:
            text = datetime.fromtimestamp(epoch + widen, tz).strftime(TIME_FORMAT)
        return text

    return [
        program,
        "--allusers",
        "--parsable2",
        "--noheader",
        "-X",
        "--format=" + ",".join(FIELDS),
        "--starttime",
        local(since, -HOUR),
        "--endtime",
        local(until, HOUR),
    ]


def sacct_environment(zone_name: str) -> dict[str, str]:
    """Variables to run sacct with (added to the environment; over ssh, as `env TZ=... sacct ...`): its times in
    the cluster's zone and in the standard format, whatever the login node's defaults are."""
    return {"TZ": zone(zone_name).key, "SLURM_TIME_FORMAT": "standard"}


def parse_sacct(lines: str | Iterable[str], zone_name: str, first_line: int = 1) -> SacctOutput:
    """Read sacct's output (a whole text, or lines such as an open file) whose times are in `zone_name`."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    reader = _Reader(LocalTimes(zone(zone_name)))
    jobs: list[Job] = []
    rejected: list[BadLine] = []
    headers = 0
    header_problem: str | None = None
    header_line = 0
    for number, raw in enumerate(lines, first_line):
        text = raw.rstrip("\r\n")
        if not text or text.isspace():
            continue
        fields = text.split(SEPARATOR)
        if not fields[0][:1].isdigit() and fields[0].strip().lower() == "jobid":
            headers += 1
            header_problem, header_line = _header_problem(fields), number
            if header_problem is not None:
                rejected.append(BadLine(number, text, header_problem))
            continue
        if header_problem is not None:
            rejected.append(BadLine(number, text, f"under the header at line {header_line}, which does not match"))
            continue
        try:
            jobs.append(reader.job(fields, text))
        except FieldError as exc:
            rejected.append(BadLine(number, text, str(exc)))
    return SacctOutput(jobs, rejected, headers)


def _header_problem(fields: list[str]) -> str | None:
    found = tuple(field.strip() for field in fields)
    if tuple(name.lower() for name in found) == _HEADER:
        return None
    expected = SEPARATOR.join(FIELDS)
    lower = {name.lower() for name in found}
    missing = [name for name in FIELDS if name.lower() not in lower]
    unexpected = [name for name in found if name.lower() not in _HEADER]
    details = []
    if missing:
        details.append("missing " + ", ".join(missing))
    if unexpected:
        details.append("unexpected " + ", ".join(name[:40] for name in unexpected[:10]))
    if not details:
        details.append("the same fields in another order" if len(found) == len(FIELDS) else "a field repeated")
    shown = SEPARATOR.join(found)[:400]
    return f"header lists {len(found)} fields {shown}; expected {len(FIELDS)}: {expected} ({'; '.join(details)})"


class _Reader:
    """Reads one line's fields into a Job; FieldError names the field and what was wrong."""

    def __init__(self, times: LocalTimes) -> None:
        self.times = times
        self.states: dict[str, str] = {}

    def job(self, fields: list[str], text: str) -> Job:
        if len(fields) < len(FIELDS):
            raise FieldError(
                f"{len(fields)} fields separated by '|', expected {len(FIELDS)}: {SEPARATOR.join(FIELDS)}"
                " (a different --format, or a cut-off line?)"
            )
        (job_id, raw_id, user, account, partition, state_text, submit, start, end, elapsed_text, nnodes_text,
         node_list, tres_text) = fields[:13]  # fmt: skip
        name = SEPARATOR.join(fields[13:]) if len(fields) > 14 else fields[13]  # see the module's note on '|'
        # One look at the whole line for the rare name that is too long or unsafe; check_name then says which.
        odd_names = len(text) > MAX_NAME_LENGTH or (not plain_text(text) and has_unsafe_character(text))
        field = "JobID"
        times = self.times
        try:
            ids = PLAIN_JOB if job_id.isdigit() and job_id.isascii() else read_job_id(job_id)
            field = "JobIDRaw"
            job_id_raw = read_count(raw_id, "job id")
            if ids is PLAIN_JOB and raw_id != job_id:
                raise FieldError(f"{raw_id[:30]!r} is not the id of job {job_id} (the fields are out of place?)")
            if odd_names or not user:
                for field, value, empty in (  # noqa: B007 (`field` names the bad one in the except below)
                    ("User", user, False),
                    ("Account", account, True),
                    ("Partition", partition, True),
                ):
                    check_name(value, empty)
            field = "State"
            state = self.states.get(state_text) or self._state(state_text)
            field = "Submit"
            submit_at = times.read(submit)
            field = "Start"
            start_at = times.read(start)
            field = "End"
            end_at = times.read(end)
            field = "Elapsed"
            elapsed = read_elapsed(elapsed_text)
            field = "NNodes"
            nnodes = read_count(nnodes_text, "node count")
            field = "NodeList"
            nodes = read_nodes(node_list)
            if nodes and len(nodes) != nnodes:
                raise FieldError(f"{node_list[:60]!r} names {len(nodes)} nodes but NNodes is {nnodes}")
            field = "AllocTRES"
            tres = read_tres(tres_text)
            if odd_names:
                field = "JobName"
                check_name(name)
        except FieldError as exc:
            hint = (
                ""
                if len(fields) == len(FIELDS)
                else f" (the line has {len(fields)} fields: a '|' in a name before JobName?)"
            )
            raise FieldError(f"{field}: {exc}{hint}") from None
        if len(submit_at) > 1 or len(start_at) > 1 or len(end_at) > 1:
            submit_epoch, start_epoch, end_epoch = choose_instants(submit_at, start_at, end_at, elapsed)
        else:
            submit_epoch = submit_at[0] if submit_at else None
            start_epoch = start_at[0] if start_at else None
            end_epoch = end_at[0] if end_at else None
        return Job(
            job_id=job_id,
            job_id_raw=job_id_raw,
            array_job_id=ids.array_job_id,
            array_task_id=ids.array_task_id,
            array_tasks=ids.array_tasks,
            het_job_id=ids.het_job_id,
            het_offset=ids.het_offset,
            user=user,
            account=account,
            partition=partition,
            state=state,
            state_text=state_text,
            submit=submit_epoch,
            start=start_epoch,
            end=end_epoch,
            elapsed=elapsed,
            nnodes=nnodes,
            nodes=nodes,
            cpus=tres.cpus,
            mem_bytes=tres.mem_bytes,
            gpus=tres.gpus,
            name=name,
        )

    def _state(self, text: str) -> str:
        state = read_state(text)
        if len(self.states) < 10_000:
            self.states[text] = state
        return state
