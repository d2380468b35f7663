from clusterdash.db.engine import write_transaction
from clusterdash.db.query import database_stats
from clusterdash.ingest.store import write_blocks
from tests.logtools import parse_lines

LOG = """Log: 2025-03-12 14:00:15 (1741784415)
@rd_client(tikgpu03,tik)[user0033(guest/tik)]:
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@                                   |
[2K, 4K)               0 |                                                    |
[16K, 32K)             3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@wr_client(tikgpu03,tik)[user0033(guest/tik)]:
[4K, 8K)              12 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
"""


def test_write_and_count_on_each_backend(engine):
    for _ in range(2):
        with write_transaction(engine) as conn:
            write_blocks(conn, list(parse_lines(LOG.splitlines(True))), "x.log")
    with engine.connect() as conn:
        stats = database_stats(conn)
    assert stats["operations"] == {"rd": 4, "wr": 12, "total": 16}
    assert (stats["blocks"], stats["entries"], stats["rows"]) == (1, 2, 3)
