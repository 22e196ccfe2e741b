"""Statistics of the augmentation report whose intervals stay inside the range of what they estimate.

A setting's accuracy or macro-F1 varies with the training seed (the repeats) and with which images happen to
make up the test set. The percentile bootstrap resamples both: each resample draws the repeats with replacement
and, independently, the test images with replacement (the same draw for every repeat and every setting, which
share one test set), and recomputes each repeat's metric from the reweighted confusion counts. Every resampled
value is a proportion, so the interval lies in [0, 1]; an uplift is the difference of two settings on the same
resamples (a paired bootstrap), so its interval lies in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.05
RESAMPLES = 2000
INTERVAL_METHOD = (f"percentile bootstrap over repeats and test images ({RESAMPLES} resamples, 95%); uplift: "
                   "paired bootstrap, both settings on the same resamples")
# With 2 repeats the bootstrap has only 3 distinct draws of the repeats and the paired t-test 1 degree of
# freedom, so the spread between training seeds is all but unknown; 3 repeats give 10 draws and 2 degrees of
# freedom, the least that says something about it.
MIN_REPEATS = 3


@dataclass(frozen=True)
class Resamples:
    repeats: np.ndarray  # [B, R]: how often each repeat is drawn
    images: np.ndarray  # [B, N]: how often each test image is drawn


def draw_resamples(repeats: int, test_images: int, seed: int) -> Resamples:
    rng = np.random.default_rng(seed)
    return Resamples(rng.multinomial(repeats, np.full(repeats, 1 / repeats), size=RESAMPLES).astype(np.float64),
                     rng.multinomial(test_images, np.full(test_images, 1 / test_images),
                                     size=RESAMPLES).astype(np.float32))  # counts < 2**24: exact


def resampled_metrics(predictions: np.ndarray, labels: np.ndarray, num_classes: int,
                      draws: Resamples) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 of each resample [B]: the mean over the drawn repeats of each repeat's metric on
    the drawn test images. predictions: predicted classes [R, N]; labels [N]. Macro-F1 averages the classes
    present in labels or predictions, as models.classification.classification_metrics does."""
    runs, n = predictions.shape
    eye = np.eye(num_classes, dtype=np.float32)
    true, predicted = eye[labels], eye[predictions]  # [N, K], [R, N, K]
    weights = draws.images

    def counts(per_image: np.ndarray) -> np.ndarray:  # [R, N, K] -> weighted sums [B, R, K]
        return (weights @ per_image.transpose(1, 0, 2).reshape(n, -1)).reshape(len(weights), runs, num_classes)

    hits, predicted_count = counts(predicted * true), counts(predicted)
    support = (weights @ true)[:, None, :] + predicted_count
    present = support > 0
    f1 = np.divide(2 * hits, support, out=np.zeros_like(support), where=present)
    per_run = {"accuracy": hits.sum(-1) / n, "macro_f1": f1.sum(-1) / present.sum(-1)}
    return {metric: (draws.repeats * values).sum(1) / runs for metric, values in per_run.items()}


def _interval(resampled: np.ndarray, estimate: float, lowest: float) -> list[float]:
    """The 95% percentile interval of `resampled`, within [lowest, 1]."""
    low, high = np.percentile(resampled, [2.5, 97.5])
    # Percentiles of a biased statistic (macro-F1 on a few images) can miss the estimate itself; widening to
    # include it keeps the report coherent. The clip only removes float rounding past the bounds.
    return [float(np.clip(min(low, estimate), lowest, 1.0)), float(np.clip(max(high, estimate), lowest, 1.0))]


def mean_ci(values: list[float], resampled: np.ndarray) -> dict[str, Any]:
    """Mean over the repeats, sample std (0 for one value) and the bootstrap interval, within [0, 1]."""
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "ci95": _interval(resampled, mean, 0.0),
            "runs": [float(v) for v in values]}


def paired_uplift(values: list[float], baseline: list[float], resampled: np.ndarray,
                  resampled_baseline: np.ndarray) -> dict[str, Any]:
    """Mean paired difference values - baseline with its paired bootstrap interval (within [-1, 1]), and a
    one-sided test that it is > 0.

    The test is the paired t-test (scipy.stats.ttest_rel, alternative="greater"). When the differences do not
    vary the t statistic is undefined; then the exact one-sided sign test is used (p = 0.5^n when all n
    differences are positive, 1 when none is), which needs 5 repeats to reach p < 0.05. One repeat: no test
    (p_value None). significant = p < 0.05 and mean > 0.
    """
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    mean = float(np.mean(differences))
    p_value: float | None = None
    test = None
    if len(differences) > 1:
        if np.ptp(differences) > 0:
            test, p_value = "paired t-test, one-sided", float(stats.ttest_rel(values, baseline,
                                                                              alternative="greater").pvalue)
        else:  # all differences equal: all positive, all zero or all negative
            test, p_value = "sign test, one-sided", 0.5 ** len(differences) if differences[0] > 0 else 1.0
    return {"mean": mean, "ci95": _interval(resampled - resampled_baseline, mean, -1.0), "p_value": p_value,
            "test": test, "significant": p_value is not None and p_value < SIGNIFICANCE and mean > 0}


def few_repeats(repeats: int) -> str | None:
    """Why `repeats` are too few for a meaningful interval, or None."""
    if repeats >= MIN_REPEATS:
        return None
    return (f"{repeats} repeat{'s' * (repeats != 1)}: fewer than {MIN_REPEATS} leave the variation between "
            "training seeds all but unestimated, so the interval mostly reflects the choice of test images")
