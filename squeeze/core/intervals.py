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

A mean over items (the tracker's squeeze peak and escape gap) gets the Student-t interval
mean +- t(0.975; n - 1) * sd / sqrt(n). Its quantile is found here without scipy (whose import
alone costs more CPU than the tracker's default budget, issue 13): for an integer df = nu and
theta = atan(t / sqrt(nu)), Abramowitz & Stegun 26.7.3-4 give A(t | nu) = P(|T| < t) as

    nu = 1:       2 theta / pi
    nu odd > 1:   (2 / pi) (theta + sin(theta) cos(theta) sum_{j=0}^{(nu-3)/2} c_j cos^{2j}(theta)),
                  c_0 = 1, c_j = c_{j-1} (2j) / (2j + 1)
    nu even:      sin(theta) sum_{j=0}^{(nu-2)/2} d_j cos^{2j}(theta),  d_0 = 1, d_j = d_{j-1} (2j - 1) / (2j)

and t(0.975; nu) solves A(t | nu) = 0.95 (bisection). Above 300 degrees of freedom the
Cornish-Fisher series of A&S 26.7.5 is used; it is within 1e-9 there.
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


def _two_sided_t_cdf(t: float, nu: int) -> float:
    """A(t | nu) = P(|T| < t) for Student's t with integer nu (A&S 26.7.3-4, module docstring)."""
    theta = math.atan(t / math.sqrt(nu))
    cos2, term, total = math.cos(theta) ** 2, 1.0, 1.0
    if nu % 2:
        for j in range(1, (nu - 3) // 2 + 1):
            term *= cos2 * (2 * j) / (2 * j + 1)
            total += term
        series = math.sin(theta) * math.cos(theta) * total if nu > 1 else 0.0
        return 2.0 / math.pi * (theta + series)
    for j in range(1, (nu - 2) // 2 + 1):
        term *= cos2 * (2 * j - 1) / (2 * j)
        total += term
    return math.sin(theta) * total


def t_quantile_975(df: int) -> float:
    """t(0.975; df), the Student-t quantile of a two-sided 95% interval, for an integer df >= 1."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    if df > 300:  # Cornish-Fisher (A&S 26.7.5) in z = the normal quantile
        z = Z95
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    low, high = 0.0, 20.0
    while _two_sided_t_cdf(high, df) < 0.95:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _two_sided_t_cdf(middle, df) < 0.95 else (low, middle)
    return (low + high) / 2


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
