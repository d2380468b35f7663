"""A hostile io_usage.log, written by a seeded function, for every test that checks what hostile input does: the
ingest (one-shot and follow), and the API, CSV and browser checks, which reuse it.

    corpus = write_hostile_log(tmp_path / "io_usage.log")           # seed=0, many_users=50_000
    corpus.rejected      # {line number: a phrase its reason holds}: exactly the lines that must be rejected
    corpus.users         # every user stored, as stored: markup and formula names among them, unescaped
    corpus.operations    # {"rd": n, "wr": n}: what the stored rows add up to, exactly
    corpus.blocks        # the file's bytes hour by hour (a follow test appends them one at a time)

One block per hour, from START:
  0  counts: rows at the bound (stored), past it (2**32, 2**63, 2**64, 5,000 digits), negative, not numbers
  1  names refused by the name rule: 10,000 and 256 characters, NUL, ESC, tab, CR, U+202E, U+2066, U+200E,
     U+200B, U+FEFF, bytes that are not UTF-8, a name with parentheses (unreadable header); and one of 255
     characters (stored). Each refused header's row is rejected too (it belongs to no one)
  2  markup and formula names, valid otherwise: stored as they are (MARKUP_NAMES, FORMULA_NAMES)
  3  a Log: line whose epoch is past the bound: the whole block is rejected
  4  a Log: line with a NUL in its time text: the whole block is rejected
  5  a Lost line past the bound (rejected; the hour is flagged), labels of 800 digits and 10,000 characters
  6  `many_users` distinct users in one hour (50,000 by default; 0 leaves the hour out)
  7-9  ordinary hours: the ingest goes on after all of it
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from clusterdash.ingest.parse import MAX_COUNT
from tests.logtools import FIXED_START

START = int(FIXED_START.timestamp()) + 15  # the Log: line of hour 0
HOUR = 3600

MARKUP_NAMES = {
    "user": ["<b>bold</b>", "<script>alert`1`</script>", "<i>x</i>&amp;"],
    "role": [
        '<a href="http:evil.example">CLICK ME<',
        "<span style=font-size:60px;color:red>",
        "<img src=x onerror=alert`1`>",
    ],
    "machine": ["<i>m</i>"],
    "machine_type": ["<u>t</u>"],
    "affiliation": ["<b>aff</b>"],
}
FORMULA_NAMES = {
    "user": ['=HYPERLINK"http://evil.example"', "+1", "-2", "@SUM", "=1+2"],
    "role": ["@SUM"],
    "affiliation": ["=1+1"],
    "machine": ["=2+3", "-m1"],
}
LONG_USER = "u" * 255  # the longest name stored


@dataclass
class Corpus:
    path: Path
    blocks: list[bytes]
    rejected: dict[int, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    machines: set[str] = field(default_factory=set)
    operations: dict[str, int] = field(default_factory=lambda: {"rd": 0, "wr": 0})
    epochs: list[int] = field(default_factory=list)  # of the blocks stored
    lost_epochs: list[int] = field(default_factory=list)  # stored blocks flagged as under-counted
    rows_at_the_bound: int = 0


class _Writer:
    """Lines as bytes, with what each must become."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.line = 0
        self.hour: list[bytes] = []
        self.direction = "rd"

    def raw(self, text: str | bytes, rejected: str | None = None) -> None:
        self.line += 1
        self.hour.append((text.encode() if isinstance(text, str) else text) + b"\n")
        if rejected is not None:
            self.corpus.rejected[self.line] = rejected

    def log(self, hour: int, stored: bool = True) -> int:
        epoch = START + hour * HOUR
        if self.hour:
            self.corpus.blocks.append(b"".join(self.hour))
            self.hour = []
        self.raw(f"Log: 2025-03-01 {hour:02d}:00:15 ({epoch})")
        if stored:
            self.corpus.epochs.append(epoch)
        return epoch

    def entry(self, direction: str, machine: str, user: str, status: str = "stud/tik", mtype: str = "tik") -> None:
        self.direction = direction
        self.raw(f"@{direction}_client({machine},{mtype})[{user}({status})]:")
        self.corpus.users.add(user)
        self.corpus.machines.add(machine)

    def row(self, label: str, count: int | str, rejected: str | None = None) -> None:
        self.raw(f"{label:<16}{count:>8} |{'@' * 10:<52}|", rejected)
        if rejected is None:
            assert isinstance(count, int) and 0 <= count <= MAX_COUNT
            self.corpus.operations[self.direction] += count
            self.corpus.rows_at_the_bound += count == MAX_COUNT

    def refused_entry(self, header: str | bytes, reason: str) -> None:
        """A header the parser refuses, with a row that therefore belongs to no one."""
        self.raw(header, reason)
        self.row("[1K, 2K)", 1, rejected="refused entry header")
        self.raw("")


def write_hostile_log(path: Path, seed: int = 0, many_users: int = 50_000) -> Corpus:
    """Write the corpus to `path` (see the module's docstring) and return what it must become."""
    rng = random.Random(seed)
    corpus = Corpus(path, [])
    w = _Writer(corpus)

    w.log(0)
    w.entry("rd", "m1", "alice")
    w.row("[1K, 2K)", MAX_COUNT)
    w.row("[2K, 4K)", MAX_COUNT + 1, rejected="larger than 4,294,967,295")
    w.row("[4K, 8K)", 2**63, rejected="larger than")
    w.row("[8K, 16K)", 2**64, rejected="larger than")
    w.row("[16K, 32K)", "9" * 5000, rejected="of 5,000 digits is larger than")
    w.row("[32K, 64K)", -5, rejected="is negative")
    w.row("[64K, 128K)", -(2**63), rejected="is negative")
    for label, text in (("[128K, 256K)", "x7"), ("[256K, 512K)", "1.5"), ("[512K, 1M)", "1e3"), ("[1M, 2M)", "NaN")):
        w.row(label, text, rejected="is not a whole number")
    w.row("[4M, 8M)", MAX_COUNT)  # after the bad rows: still alice's
    w.raw("")
    w.entry("wr", "m1", "bob")
    for label in ("[4K, 8K)", "[8K, 16K)", "[16K, 32K)"):
        w.row(label, MAX_COUNT)
    w.raw("")

    w.log(1)
    unsafe = {
        "u" * 10_000: "10,000 characters long",
        "u" * 256: "256 characters long",
        "nul\x00user": "U+0000",
        "esc\x1bred": "U+001B",
        "rtl\u202eevil": "U+202E",
        "iso\u2066late": "U+2066",
        "mark\u200e": "U+200E",
        "zero\u200bwidth": "U+200B",
        "\ufeffbom": "U+FEFF",
    }
    for name, reason in unsafe.items():
        w.refused_entry(f"@rd_client(m2,tik)[{name}(stud/tik)]:", reason)
    w.refused_entry("@rd_client(m2,tik)[carol(\tstud/tik)]:", "role name holds a control character, U+0009")
    w.refused_entry("@rd_client(m2,tik)[carol(\r=1/tik)]:", "U+000D")
    w.refused_entry("@rd_client(m\u202e2,tik)[carol(stud/tik)]:", "machine name holds")
    w.refused_entry("@rd_client(m2,t\x00k)[carol(stud/tik)]:", "machine type name holds")
    w.refused_entry("@rd_client(m2,tik)[carol(stud/t\u2069ik)]:", "affiliation name holds")
    w.refused_entry(b"@rd_client(m2,tik)[caf\xe9(stud/tik)]:", "not UTF-8")
    w.refused_entry('@rd_client(m2,tik)[=HYPERLINK("http://evil.example")(stud/tik)]:', "unreadable entry header")
    w.refused_entry("@rd_client(m2,tik)[\t=1+1(stud/tik)]:", "unreadable entry header")
    w.entry("rd", "m2", LONG_USER)
    w.row("[1K, 2K)", 3)
    w.raw("")

    w.log(2)
    named = [(kind, name) for names in (MARKUP_NAMES, FORMULA_NAMES) for kind, each in names.items() for name in each]
    for n, (kind, name) in enumerate(named):
        user = name if kind == "user" else f"holder{n}"
        machine = name if kind == "machine" else f"typed{n}" if kind == "machine_type" else "m3"
        status = {"role": name, "affiliation": f"stud/{name}"}.get(kind, "stud/tik")
        w.entry(rng.choice(["rd", "wr"]), machine, user, status, name if kind == "machine_type" else "tik")
        w.row("[64K, 128K)", rng.randint(1, 10**6))
        w.raw("")

    w.log(3, stored=False)  # replaced below: its epoch is past the bound
    w.hour[-1] = f"Log: 2106-02-07 07:00:00 ({2**32})\n".encode()
    corpus.rejected[w.line] = "after 4294967295"
    w.raw("@rd_client(m1,tik)[alice(stud/tik)]:", "entry header under the rejected Log: line")
    w.raw(f"{'[1K, 2K)':<16}{5:>8} |{'@':<52}|", "no readable Log: line")
    w.raw("")

    w.log(4, stored=False)
    w.hour[-1] = f"Log: 2025-03-01\x0004:00:15 ({START + 4 * HOUR})\n".encode()
    corpus.rejected[w.line] = "time text holds a control character, U+0000"
    w.raw("@rd_client(m1,tik)[alice(stud/tik)]:", "entry header under the rejected Log: line")
    w.raw(f"{'[1K, 2K)':<16}{5:>8} |{'@':<52}|", "no readable Log: line")
    w.raw("")

    corpus.lost_epochs.append(w.log(5))
    w.raw("Lost 99999999999999999999 events", "lost-event count larger than")
    w.entry("wr", "m1", "alice")
    w.row("[1" + "0" * 400 + ", 2" + "0" * 400 + ")", 5, rejected="unknown bucket label")
    w.row("[" + "x" * 10_000 + ")", 5, rejected="unknown bucket label")
    w.row("[2K, 4K)", 11)
    w.raw("")

    if many_users:
        w.log(6)
        for i in range(many_users):
            w.entry(rng.choice(["rd", "wr"]), f"wide{i % 64:02d}", f"crowd{i:05d}")
            for label in rng.sample(["[4K, 8K)", "[64K, 128K)", "[1M, 2M)"], rng.randint(1, 2)):
                w.row(label, rng.randint(0, 100_000))
            w.raw("")

    for hour in (7, 8, 9):
        w.log(hour)
        for user in ("alice", "bob", "<b>bold</b>"):
            w.entry("rd", "m1", user)
            w.row("[1M, 2M)", rng.randint(1, 10**5))
            w.raw("")
    corpus.blocks.append(b"".join(w.hour))
    path.write_bytes(b"".join(corpus.blocks))
    return corpus
