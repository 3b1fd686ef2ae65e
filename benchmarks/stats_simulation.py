"""The no_regression rule validated by simulation, larger than the CI test.

For pass/fail suites (Newcombe interval) and score suites (bootstrap), at several sizes:
  false pass   the true difference sits exactly at -margin; the share of simulated suites
               the rule passes, against its one-sided alpha (0.025 at 95%).
  power        no true difference; the share it passes, against the analytic power
               (statsmodels TTestPower), as a ratio.
Run: python benchmarks/stats_simulation.py [--sims 2000]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from tunegate.stats import BootstrapSettings, paired_difference
from tunegate.stats.power import power_at

CONFIDENCE, MARGIN = 0.95, 0.05
ALPHA = (1 - CONFIDENCE) / 2


def binary_suite(rng: np.random.Generator, n: int, cells: tuple[float, ...]):
    kind = rng.choice(4, size=n, p=cells)
    return np.isin(kind, (0, 1)).astype(float), np.isin(kind, (0, 2)).astype(float)


def passes(base: np.ndarray, cand: np.ndarray, resamples: int) -> bool:
    pd = paired_difference(base, cand, settings=BootstrapSettings(resamples=resamples))
    return pd.interval(CONFIDENCE)[0] > -MARGIN


def rate(trials: list[bool]) -> tuple[float, float]:
    p = sum(trials) / len(trials)
    return p, math.sqrt(max(p * (1 - p), 1e-12) / len(trials))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(20261126)
    started = time.monotonic()
    print("| data | n | discordance / sd | false pass | alpha | power | analytic | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, disc in ((50, 0.10), (200, 0.10), (200, 0.30), (800, 0.10)):
        # At the margin: only-base passes exceed only-candidate passes by exactly MARGIN.
        half = MARGIN / 2
        at_margin = ((1 - disc) * 0.7, disc / 2 + half, disc / 2 - half, (1 - disc) * 0.3)
        level = (1 - disc) * 0.7, disc / 2, disc / 2, (1 - disc) * 0.3
        fp, fp_se = rate([passes(*binary_suite(rng, n, at_margin), 0) for _ in range(args.sims)])
        pw, _ = rate([passes(*binary_suite(rng, n, level), 0) for _ in range(args.sims)])
        analytic = power_at(n, math.sqrt(disc), MARGIN, CONFIDENCE)
        print(
            f"| pass/fail | {n} | {disc:.2f} | {fp:.4f} ± {fp_se:.4f} | {ALPHA:.3f} | {pw:.3f} | "
            f"{analytic:.3f} | {pw / analytic:.2f} |"
        )
    for n, sd in ((20, 0.10), (60, 0.12), (200, 0.2)):
        sims = args.sims // 2
        fp, fp_se = rate(
            [
                passes(b := rng.random(n), b - MARGIN + rng.normal(0, sd, n), args.resamples)
                for _ in range(sims)
            ]
        )
        pw, _ = rate(
            [
                passes(b := rng.random(n), b + rng.normal(0, sd, n), args.resamples)
                for _ in range(sims)
            ]
        )
        analytic = power_at(n, sd, MARGIN, CONFIDENCE)
        print(
            f"| scores | {n} | {sd:.2f} | {fp:.4f} ± {fp_se:.4f} | {ALPHA:.3f} | {pw:.3f} | "
            f"{analytic:.3f} | {pw / analytic:.2f} |"
        )
    print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
