"""A rate over items is an estimate: its Wilson 95% interval (issue 10, item 6).

For k successes in n items, p = k / n and z = 1.959964 (the 97.5% normal quantile), the
Wilson score interval is

    centre = (p + z^2 / (2n)) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
    [centre - half, centre + half]

It stays inside [0, 1] and is sensible at k = 0 and k = n, where the normal approximation
collapses to a point. `Rate` carries k, n, the rate and the interval together, so nothing
renders a rate without its uncertainty.

    wilson(3, 10)          # (0.1078, 0.6032)
    Rate.of(3, 10).text()  # "30% [11-60%] (3/10)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"successes must be between 0 and {n}, got {k}")
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k of n items, the rate k / n (None when n is 0) and its Wilson 95% interval."""

    k: int
    n: int

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        if n < 0 or not 0 <= k <= max(n, 0):
            raise ValueError(f"a rate needs 0 <= k <= n, got k={k}, n={n}")
        return cls(int(k), int(n))

    @classmethod
    def count(cls, flags) -> Rate:
        """The rate of True among booleans (None entries are left out)."""
        known = [bool(f) for f in flags if f is not None]
        return cls(sum(known), len(known))

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n)

    def overlaps(self, other: Rate) -> bool:
        """Do the two 95% intervals overlap (so the two rates are not told apart)?"""
        a, b = self.ci95, other.ci95
        return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])

    def to_dict(self) -> dict:
        ci = self.ci95
        return {"k": self.k, "n": self.n, "rate": self.rate, "ci95": list(ci) if ci else None}

    @classmethod
    def from_dict(cls, data: dict) -> Rate:
        return cls(int(data["k"]), int(data["n"]))

    def text(self, counts: bool = True) -> str:
        """ "30% [11-60%] (3/10)"; "n/a" with no items."""
        if not self.n:
            return "n/a"
        low, high = self.ci95
        out = f"{100 * self.rate:.0f}% [{100 * low:.0f}-{100 * high:.0f}%]"
        return out + (f" ({self.k}/{self.n})" if counts else "")
