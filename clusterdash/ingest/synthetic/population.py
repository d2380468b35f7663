"""The demo cluster's people and machines: who works where, with which role, calibrated to the real month.
Drawn from the seed's random stream before anything else, so a seed always has the same people."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from clusterdash.ingest.synthetic.render import SERVER_TZ


@dataclass(frozen=True)
class Machine:
    name: str
    type: str  # "tik" or "itet": which institute owns the box


MACHINES_TIK = tuple(
    [f"tikgpu{i:02d}" for i in range(1, 11)]
    + ["tik42x"]
    + [f"snowflake{i:02d}" for i in range(1, 9)]
    + ["tardis-a11", "polaris"]
)
MACHINES_ITET = tuple([f"arton{i:02d}" for i in range(1, 12)] + [f"artongpu{i:02d}" for i in range(1, 8)])
ALL_MACHINES = tuple(Machine(n, "tik") for n in MACHINES_TIK) + tuple(Machine(n, "itet") for n in MACHINES_ITET)
SERVICE_HOSTS = tuple(m for m in ALL_MACHINES if m.name in ("polaris", "tik42x"))  # never idle
MACHINES_BY_TYPE = {t: tuple(m for m in ALL_MACHINES if m.type == t) for t in ("tik", "itet")}
# Course accounts work in the student pool (the snowflakes) and on a few artons.
LAB_MACHINES = tuple(m for m in ALL_MACHINES if m.name.startswith("snowflake") or m.name in ("arton01", "arton02"))

# Users per role as seen in the real month; "ueb" (Uebung = exercise) are course accounts.
ROLE_COUNTS = {"guest": 39, "staff": 9, "stud": 9, "ueb": 74}
COURSES = ("hodl", "dlsp")  # course-account prefixes, e.g. hodl_001fs25
ITET_SHARE_OF_PEOPLE = 0.14  # most users belong to tik, some to itet
HOME_MACHINE_CHANCE = 0.7
TIK_SHARE_ELSEWHERE = 0.7  # the real month: 78 % of entries on tik machines, all told
ROLE_CHANGERS = 3  # a few people change role once (a student hired as staff, ...)
# When, in hours after the start: in the middle half of the first month.
ROLE_CHANGE_FIRST_HOUR, ROLE_CHANGE_LAST_HOUR = 180, 540

_LOGIN_HEADS = ("b", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "sch", "t", "v", "w", "z")
_LOGIN_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ue")
_LOGIN_TAILS = ("", "n", "r", "l", "s", "tt", "ck", "ng", "rt", "nd", "ller", "mann", "berg")


@dataclass
class User:
    login: str
    role: str
    affiliation: str
    job_rate: float  # relative chance that a new job is this user's (0: course accounts, see lab sessions)
    heavy_chance: float  # chance that a job of theirs streams a data set
    machines: list[Machine]  # where this user usually works
    role_change: tuple[int, str] | None = None  # (hour index, new role)

    def status_at(self, hour_index: int) -> str:
        role = self.role
        if self.role_change and hour_index >= self.role_change[0]:
            role = self.role_change[1]
        return f"{role}/{self.affiliation}"


def _invent_login(rng: random.Random, taken: set[str]) -> str:
    # Real logins are a first initial plus a (shortened) surname, <= 8 chars.
    while True:
        surname = rng.choice(_LOGIN_HEADS) + rng.choice(_LOGIN_VOWELS) + rng.choice(_LOGIN_TAILS)
        if rng.random() < 0.4:
            surname += rng.choice(_LOGIN_VOWELS[:5]) + rng.choice(_LOGIN_TAILS[1:8])
        login = (rng.choice("abcdefghijklmnoprstuvwz") + surname)[:8]
        if rng.random() < 0.1:
            login = login[:7] + str(rng.randint(1, 9))  # the second "mmuster"
        if login not in taken:
            taken.add(login)
            return login


def _pick_machines(rng: random.Random, affiliation: str, count: int) -> list[Machine]:
    # Institutes mostly use their own boxes; itet's machines are shared a bit.
    own_type_share = 0.85 if affiliation == "tik" else 0.75
    chosen: list[Machine] = []
    while len(chosen) < count:
        want = affiliation if rng.random() < own_type_share else ("itet" if affiliation == "tik" else "tik")
        machine = rng.choice(MACHINES_BY_TYPE[want])
        if machine not in chosen:
            chosen.append(machine)
    return chosen


def machine_for(rng: random.Random, person: User) -> Machine:
    # People mostly work on their usual boxes; otherwise the batch system
    # places the job anywhere, tik's machines being the larger share.
    if rng.random() < HOME_MACHINE_CHANCE:
        return rng.choice(person.machines)
    return rng.choice(MACHINES_BY_TYPE["tik" if rng.random() < TIK_SHARE_ELSEWHERE else "itet"])


def _semester_suffix(start: datetime) -> str:
    # ETH semesters: spring (fs) February-July, autumn (hs) otherwise.
    local = start.astimezone(SERVER_TZ)
    if 2 <= local.month <= 7:
        return f"fs{local.year % 100:02d}"
    year = local.year if local.month >= 8 else local.year - 1
    return f"hs{year % 100:02d}"


def make_people(rng: random.Random) -> list[User]:
    """Guests, staff and students, heaviest first."""
    taken: set[str] = set()
    people: list[User] = []
    roles = ["guest"] * ROLE_COUNTS["guest"] + ["staff"] * ROLE_COUNTS["staff"] + ["stud"] * ROLE_COUNTS["stud"]
    rng.shuffle(roles)  # who is heavy is independent of role
    for rank, role in enumerate(roles, start=1):
        affiliation = "itet" if rng.random() < ITET_SHARE_OF_PEOPLE else "tik"
        people.append(
            User(
                login=_invent_login(rng, taken),
                role=role,
                affiliation=affiliation,
                # A user's share of all operations ~ (rank + 1) ** -1.4, which
                # gives the real top-1 (22 %) and top-10 (71 %) shares; split
                # into "starts more jobs" and "more of them are heavy" so that
                # entry counts are concentrated too, but less.
                job_rate=(rank + 1) ** -0.6,
                heavy_chance=0.6 * ((rank + 1) / 2) ** -0.8,
                machines=_pick_machines(rng, affiliation, rng.choice((1, 1, 2, 2, 3, 4))),
            )
        )
    # Every machine of the cluster shows up in a month: give idle ones a user.
    used = {m for p in people for m in p.machines}
    for machine in ALL_MACHINES:
        if machine not in used:
            rng.choice(people).machines.append(machine)
    for person in rng.sample(people, ROLE_CHANGERS):
        new_role = {"stud": "staff", "guest": "stud", "staff": "guest"}[person.role]
        person.role_change = (rng.randrange(ROLE_CHANGE_FIRST_HOUR, ROLE_CHANGE_LAST_HOUR + 1), new_role)
    return people


def make_course_accounts(rng: random.Random, start: datetime) -> list[User]:
    suffix = _semester_suffix(start)
    per_course = -(-ROLE_COUNTS["ueb"] // len(COURSES))
    return [
        User(
            login=f"{COURSES[k // per_course]}_{k % per_course + 1:03d}{suffix}",
            role="ueb",
            affiliation="tik",
            job_rate=0.0,
            heavy_chance=0.0,
            machines=[rng.choice(LAB_MACHINES)],
        )
        for k in range(ROLE_COUNTS["ueb"])
    ]
