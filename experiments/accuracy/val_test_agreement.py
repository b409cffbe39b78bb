"""Does a change's effect on the validation tracks predict its effect on the test set?

The paired single-run comparisons of sections 11-20 of README.md (each candidate against its
baseline on the same quarter split and seed, last epoch), as errors fixed (baseline errors
minus candidate errors; positive: the candidate is better) on validation (9,780 images) and
on the official test set (12,630), copied from those sections' tables. Prints Pearson's and
Spearman's correlation (scipy.stats) and how often the two agree in sign.

    python experiments/accuracy/val_test_agreement.py
"""

from __future__ import annotations

from scipy import stats

# (section, change, split seed, errors fixed on validation, errors fixed on test)
PAIRS = [
    (11, "AdamW, weight decay 0.05", 1, 61 - 65, 146 - 124),
    (11, "jitter on 75 % of the images", 1, 61 - 77, 146 - 136),
    (11, "150-150 feature maps", 1, 61 - 71, 146 - 146),
    (12, "AdamW, weight decay 0.05", 2, 79 - 85, 124 - 131),
    (13, "50 epochs instead of 30", 1, 61 - 62, 146 - 142),
    (13, "50 epochs instead of 30", 2, 79 - 86, 124 - 112),
    (14, "second spatial transformer", 1, 61 - 55, 146 - 129),
    (14, "second spatial transformer", 2, 79 - 72, 124 - 134),
    (15, "brightness/contrast jitter", 1, 55 - 58, 129 - 111),
    (15, "brightness/contrast jitter", 2, 72 - 73, 134 - 138),
    (15, "SWA instead of EMA", 1, 55 - 56, 129 - 126),
    (15, "SWA instead of EMA", 2, 72 - 76, 134 - 134),
    (15, "SGD, one-cycle to 0.01", 1, 55 - 73, 129 - 148),
    (15, "SGD, one-cycle to 0.01", 2, 72 - 86, 134 - 140),
    (18, "40x40 inputs", 1, 62 - 74, 140 - 161),
    (18, "48x48 inputs", 1, 62 - 85, 140 - 180),
    (19, "bf16 instead of fp32", 1, 72 - 62, 165 - 168),
    (19, "occlusion jitter", 1, 62 - 92, 168 - 173),
    (19, "blur jitter", 1, 62 - 72, 168 - 170),
    (20, "classifier 300 hidden units", 1, 62 - 80, 168 - 148),
    (20, "learning rate 2e-3", 1, 62 - 86, 168 - 140),
]


def main() -> None:
    val = [p[3] for p in PAIRS]
    test = [p[4] for p in PAIRS]
    pearson = stats.pearsonr(val, test)
    spearman = stats.spearmanr(val, test)
    signed = [(v, t) for v, t in zip(val, test, strict=True) if v and t]
    agree = sum((v > 0) == (t > 0) for v, t in signed)
    print(f"{len(PAIRS)} paired comparisons (sections 11-20)")
    print(f"Pearson r = {pearson.statistic:.2f} (p = {pearson.pvalue:.2f})")
    print(f"Spearman rho = {spearman.statistic:.2f} (p = {spearman.pvalue:.2f})")
    print(f"same sign on validation and test: {agree} of {len(signed)} (both non-zero)")
    big = [(v, t) for v, t in signed if abs(v) >= 15]
    print(
        f"validation moved by 15+ images: {len(big)}; test moved the same way in "
        f"{sum((v > 0) == (t > 0) for v, t in big)}"
    )


if __name__ == "__main__":
    main()
