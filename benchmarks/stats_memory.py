"""Peak memory of the paired statistics on a large suite, against scipy called as tunegate
first called it (every resample drawn at once), in the same process.

    python benchmarks/stats_memory.py [--cases 3000] [--resamples 9999]

Prints the peak traced allocation (tracemalloc) of the permutation test and the bootstrap
for tunegate's `paired_difference` and for the unbatched reference, and their ratio.
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy import stats

from tunegate.stats import BootstrapSettings, paired_difference


def peak_mib(work: Callable[[], object]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--resamples", type=int, default=9999)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    base, candidate = rng.random(args.cases), rng.random(args.cases)
    settings = BootstrapSettings(resamples=args.resamples, seed=1)

    def reference_permutation() -> object:
        return stats.permutation_test(
            (candidate, base),
            lambda c, b, axis=-1: np.mean(c - b, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=args.resamples,
            rng=np.random.default_rng(1),
        )

    def reference_bootstrap() -> object:
        return stats.bootstrap(
            (candidate - base,),
            np.mean,
            n_resamples=args.resamples,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(1),
        )

    rows = [
        (
            "permutation p-value",
            peak_mib(reference_permutation),
            peak_mib(lambda: paired_difference(base, candidate, settings=settings).p_value()),
        ),
        (
            "bootstrap interval",
            peak_mib(reference_bootstrap),
            peak_mib(lambda: paired_difference(base, candidate, settings=settings).interval(0.95)),
        ),
    ]
    print(f"{args.cases} cases, {args.resamples} resamples; peak traced memory (MiB)")
    print(f"{'statistic':<22}{'reference':>12}{'tunegate':>12}{'ratio':>8}")
    for name, reference, ours in rows:
        print(f"{name:<22}{reference:>12.1f}{ours:>12.1f}{ours / reference:>8.2f}")


if __name__ == "__main__":
    main()
