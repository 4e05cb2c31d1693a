"""Publication dates as written in bylines ("3/20/25", "Mar 20, 2025", "2025-03-20", "20 March 2025") -> ISO.

Numeric dates are read month first (US bylines: "4/3/25" is 3 April 2025) unless the first
number cannot be a month ("20/3/25" is 20 March). Two-digit years 00-68 are 2000-2068, 69-99
are 1969-1999 (as ``strptime``'s ``%y``). Anything else, or an impossible date, gives None.
"""
from __future__ import annotations

import re
from datetime import date

_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")], 1) for m in names}
_NUMERIC = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_MONTH_FIRST = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$")
_DAY_FIRST = re.compile(r"^(\d{1,2}) ([A-Za-z]{3,9})\.?,? (\d{4})$")


def parse_date(text: str | None) -> str | None:
    """``text`` as an ISO date (``YYYY-MM-DD``), or None if it is not a date we can read."""
    if not text:
        return None
    s = " ".join(str(text).split())
    try:
        if m := _ISO.match(s):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
        elif m := _NUMERIC.match(s):
            mo, d, y = int(m[1]), int(m[2]), int(m[3])
            if mo > 12 >= d:
                mo, d = d, mo
            if len(m[3]) == 2:
                y += 2000 if y <= 68 else 1900
        elif m := _MONTH_FIRST.match(s):
            mo, d, y = _MONTHS[m[1].lower()], int(m[2]), int(m[3])
        elif m := _DAY_FIRST.match(s):
            d, mo, y = int(m[1]), _MONTHS[m[2].lower()], int(m[3])
        else:
            return None
        return date(y, mo, d).isoformat()
    except (KeyError, ValueError):
        return None
