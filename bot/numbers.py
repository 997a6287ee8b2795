"""The one way commands read numbers: ASCII digits and the full-width digits a Chinese keyboard types.

NFKC folding (used for ：＝Ａ and the like) also turns ², ⁵, ① and 𝟏𝟎 into plain digits, and
Python's `\\d` and `int()` take Arabic-Indic and other scripts' digits. Neither is what a member
means by an amount, and before this module 加分 took ² while 接龙 refused ٣ and 开团 took it.
"""

from __future__ import annotations

import re

from bot.text import fold_width

# A whole number written with ASCII digits only, as `fold_width` leaves it; no sign, no "1_000".
WHOLE = re.compile(r"[0-9]+", re.ASCII)


def whole_number(word: str, high: int, low: int = 1) -> int | None:
    """Return the whole number `low`..`high` written in `word` (ASCII or full-width digits), or None.

    The length check keeps a pasted 5,000-digit number away from int()'s own limit and the columns' range.
    """
    digits = fold_width(word).strip()
    if not WHOLE.fullmatch(digits) or len(digits) > len(str(high)):
        return None
    number = int(digits)
    return number if low <= number <= high else None
