"""The one MetaData every table is declared on, and the rules the declarations share."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()

# A histogram counts the reads ('rd') or the writes ('wr') served to one client.
DIRECTIONS = ("rd", "wr")
