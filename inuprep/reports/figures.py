"""Figures drawn with matplotlib (Agg, no display needed)."""

from pathlib import Path

import numpy as np
import pandas as pd

#: method order and colours shared by every figure
METHODS = ("original", "n4", "zeroshot")
COLOURS = {"original": "#7f7f7f", "n4": "#1f77b4", "zeroshot": "#d62728"}
LABELS = {"original": "original", "n4": "N4", "zeroshot": "zero-shot"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def group_figure(images: pd.DataFrame, title: str, out_file: Path) -> Path:
    """Plot every metric of ``images`` (one row per image and method): methods side by side, one point per
    image, the points of one image joined across methods; return ``out_file`` (PNG)."""
    plt = _pyplot()
    metrics = [c for c in images.columns if c.startswith("cv_")] + ["cjv"]
    methods = [m for m in METHODS if m in set(images.method)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        wide = images.pivot_table(index="source", columns="method", values=metric)[methods]
        x = np.arange(len(methods))
        for _, values in wide.iterrows():
            ax.plot(x, values.to_numpy(), color="#cccccc", linewidth=0.8, zorder=1)
        for i, method in enumerate(methods):
            ax.scatter(np.full(len(wide), i), wide[method], color=COLOURS[method], s=18, zorder=2)
        ax.set_xticks(x, [LABELS[m] for m in methods], rotation=30)
        ax.set_title("CJV" if metric == "cjv" else f"CV {metric[3:]}", fontsize=10)
        ax.margins(x=0.25)
    fig.suptitle(f"{title}: {wide.shape[0]} image(s), lower is more homogeneous", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110, format="png")
    plt.close(fig)
    return out_file
