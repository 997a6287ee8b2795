"""How a 300-member 团购名单 fits each route: parts, bytes, and how long splitting takes (prints figures)."""

from __future__ import annotations

import time

from bot.transports import sizes


def roster(count: int = 300) -> str:
    lines = ["【接龙】周六草莓团 名单："]
    lines += [f"{n}. 团员{n:03d} 草莓×{n % 3 + 1} 3号楼{n % 20 + 1}单元" for n in range(1, count + 1)]
    return "\n".join(lines)


def main() -> None:
    text = roster()
    print(f"roster: {len(text)} characters, {sizes.size(text)} bytes")
    for route, msgtype in sorted(sizes.LIMITS):
        limit = sizes.LIMITS[(route, msgtype)]
        started = time.perf_counter()
        for _ in range(100):
            parts = sizes.split_parts(text, limit)
        took = (time.perf_counter() - started) / 100 * 1000
        largest = max(map(sizes.size, parts))
        print(f"{route:15} {msgtype:9} {limit:6} B: {len(parts):2} part(s), largest {largest:6} B, {took:.2f} ms")


if __name__ == "__main__":
    main()
