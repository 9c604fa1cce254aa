"""Figures drawn with matplotlib (Agg, no display needed)."""

from pathlib import Path

import numpy as np
import pandas as pd

from inuprep.evaluation.metrics import summary_columns
from inuprep.methods import COLOURS, LABELS
from inuprep.segmentation.labels import read_label_table
from inuprep.utils.io import replacing

#: panel titles of the metrics that are not a CV
TITLES = {"cjv": "CJV", "rel_error": "error vs truth", "measured_rel_error": "error vs scanner's",
          "measured_field_corr": "r with measured field (higher better)",
          "measured_field_residual": "residual to measured field"}  # fmt: skip
#: the figures of one image, in the report's order, with their captions
IMAGE_FIGURES = {
    "views": "Original and corrected images in three planes on one intensity window (each scaled to the "
    "original's median in the masks), with the outlines of the evaluated tissues.",
    "fields": "Estimated multiplicative fields (source = corrected x field), each divided by its median in "
    "the masks, on one colour scale.",
    "losses": "Loss at every optimisation step of each method that optimises on the image.",
    "selfcheck": "Self-check: each method's estimated error against the methods' mean, and the share of each "
    "signal (the field left in the image, the field's spread, its distance to the other methods', its "
    "roughness); the lowest estimate is recommended.",
    "harmonized": "Harmonization: the corrected image before and after (axial, each on its own 0.5-99.5th "
    "percentile window) and the histograms of both inside the tissue masks (the harmonized one on the "
    "reference group's scale).",
}


def _figure(**kwargs):
    """Return a matplotlib Figure drawn off-screen (no pyplot: the process's backend is left alone)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def group_figure(images: pd.DataFrame, title: str, out_file: Path) -> Path:
    """Plot every metric of ``images`` (one row per image and method): methods side by side, one point per
    image, the points of one image joined across methods; return ``out_file`` (PNG). The lines are one
    collection per panel, so a study of a thousand images draws in about a second."""
    from matplotlib.collections import LineCollection

    metrics = summary_columns(images.columns)
    methods = [m for m in LABELS if m in set(images.method)]
    fig = _figure(figsize=(2.6 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        wide = images.pivot_table(index="source", columns="method", values=metric).reindex(columns=methods)
        x = np.arange(len(methods))
        lines = np.stack([np.broadcast_to(x, wide.shape), wide.to_numpy()], axis=-1)  # (image, method, xy)
        alpha = min(1.0, 50 / max(len(wide), 1))  # a study's lines stay a haze, not a wall
        ax.add_collection(LineCollection(lines, colors="#cccccc", linewidths=0.8, alpha=alpha, zorder=1))
        for i, method in enumerate(methods):
            ax.scatter(np.full(len(wide), i), wide[method], color=COLOURS[method], s=18, zorder=2)
        ax.set_xticks(x, [LABELS[m] for m in methods], rotation=30)
        ax.set_title(TITLES.get(metric) or f"CV {metric[3:]}", fontsize=10)
        ax.margins(x=0.25)
    fig.suptitle(f"{title}: {images.source.nunique()} image(s), lower is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110, format="png")
    return out_file


def sites_figure(entries: list[dict], title: str, out_file: Path, per_site: int = 10) -> Path:
    """Plot each site's intensity distribution inside the tissue masks, of the corrected images that were
    harmonized (left, their correction named in the harmonized sidecars) and of the harmonized images
    (right), one line per site; return the PNG. ``entries``: as :func:`inuprep.reports.group.site_means`,
    with each image's ``dseg``. A site's line pools its first ``per_site`` images by name, each file read
    once: a distribution needs no more, and a study's every image would take minutes to read."""
    import json

    from inuprep.utils.bids import sidecar_path

    harmonized = [entry for entry in entries if "harmonized" in entry["files"]]
    corrections = {
        json.loads(sidecar_path(e["files"]["harmonized"]).read_text()).get("HarmonizedCorrection")
        for e in harmonized
    }
    before = corrections.pop() if len(corrections) == 1 else None
    panels = {"harmonized": "harmonized"}
    if before in LABELS:
        panels = {before: f"{LABELS[before]} (before)", **panels}
    sites = {entry["site"]: [] for entry in sorted(harmonized, key=lambda e: e["site"])}
    for entry in sorted(harmonized, key=lambda e: str(e["files"]["harmonized"])):
        sites[entry["site"]] += [entry] * (len(sites[entry["site"]]) < per_site)
    values = {kind: {site: [] for site in sites} for kind in panels}
    counts = {site: len(chosen) for site, chosen in sites.items()}
    for site, chosen in sites.items():
        for entry in chosen:
            mask = _canonical(entry["dseg"]) > 0
            for kind in panels:
                if kind in entry["files"]:
                    values[kind][site].append(_canonical(entry["files"][kind])[mask])
    fig = _figure(figsize=(5 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (kind, name) in zip(axes, panels.items(), strict=True):
        pooled = {site: np.concatenate(v) for site, v in values[kind].items() if v}
        high = max(np.percentile(v, 99.5) for v in pooled.values())
        for site, v in pooled.items():
            density, edges = np.histogram(v, bins=100, range=(0, high), density=True)
            ax.plot((edges[:-1] + edges[1:]) / 2, density, label=f"{site} ({counts[site]})")
        ax.set_title(name, fontsize=10)
        ax.set_yticks([])
        ax.set_xlabel("intensity in the tissue masks")
    axes[-1].legend(fontsize=7, frameon=False)
    shown = f"first {per_site} images per site" if max(counts.values()) == per_site else "number of images"
    fig.suptitle(f"{title}: intensity distribution per site ({shown})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def _canonical(path) -> np.ndarray:
    import nibabel as nb

    return np.asanyarray(nb.as_closest_canonical(nb.load(path)).dataobj).astype(np.float32)


def _planes(data: np.ndarray, centre) -> list[np.ndarray]:
    """Return the sagittal, coronal and axial slices through ``centre``, rotated for display (RAS data)."""
    x, y, z = centre
    return [np.rot90(data[x, :, :]), np.rot90(data[:, y, :]), np.rot90(data[:, :, z])]


def _centre(mask: np.ndarray) -> tuple[int, int, int]:
    """Return the slices to show: sagittal through one hemisphere (30th percentile of x), the others
    through the centre of the masks."""
    points = np.argwhere(mask)
    if not len(points):
        return tuple(s // 2 for s in mask.shape)
    x = int(np.percentile(points[:, 0], 30))
    return (x, *(int(v) for v in points[:, 1:].mean(0).round()))


def views_figure(images: dict[str, Path], dseg: Path, tissues: dict[int, str], out_file: Path) -> Path:
    """Plot each image in three planes on one intensity window, with the tissue outlines; return the PNG.

    Every image is scaled to the original's median inside the masks (a global factor only), and the window
    is the original's 0.5-99.5th percentiles there: differences left are non-uniformity, not scale.
    """
    from matplotlib.lines import Line2D

    labels = _canonical(dseg).round().astype(int)
    mask = labels > 0
    centre = _centre(mask)
    data = {name: _canonical(path) for name, path in images.items()}
    reference = data["original"][mask]
    low, high = np.percentile(reference, [0.5, 99.5])
    colours = ["#ffd700", "#00e5ff", "#ff4fd8", "#7CFC00", "#ff8c00", "#ffffff"]
    evaluated = sorted(set(tissues.values()))
    fig = _figure(figsize=(9, 3 * len(data)))
    axes = fig.subplots(len(data), 3, squeeze=False)
    for row, (name, volume) in enumerate(data.items()):
        scaled = volume * (np.median(reference) / np.median(volume[mask]))
        for col, (plane, label_plane) in enumerate(
            zip(_planes(scaled, centre), _planes(labels, centre), strict=True)
        ):
            ax = axes[row, col]
            ax.imshow(plane, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            for colour, tissue in zip(colours, evaluated, strict=False):
                in_tissue = np.isin(label_plane, [k for k, t in tissues.items() if t == tissue])
                if in_tissue.any():
                    ax.contour(in_tissue, levels=[0.5], colors=colour, linewidths=0.5)
            ax.set_axis_off()
        axes[row, 0].set_title(LABELS.get(name, name), loc="left", fontsize=10)
    handles = [Line2D([], [], color=c, label=t) for c, t in zip(colours, evaluated, strict=False)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def fields_figure(fields: dict[str, Path], dseg: Path, out_file: Path) -> Path:
    """Plot each estimated field in three planes on one colour scale (each divided by its median in the
    masks, so 1 = the image's mean level); return the PNG."""
    mask = _canonical(dseg) > 0
    centre = _centre(mask)
    data = {name: _canonical(path) for name, path in fields.items()}
    data = {name: np.where(mask, volume / np.median(volume[mask]), np.nan) for name, volume in data.items()}
    spread = max(float(np.nanpercentile(np.abs(np.log(v)), 99)) for v in data.values()) or 0.1
    fig = _figure(figsize=(9, 3 * len(data)))
    axes = fig.subplots(len(data), 3, squeeze=False)
    for row, (name, volume) in enumerate(data.items()):
        for col, plane in enumerate(_planes(volume, centre)):
            shown = axes[row, col].imshow(
                plane, cmap="coolwarm", vmin=np.exp(-spread), vmax=np.exp(spread), interpolation="nearest"
            )
            axes[row, col].set_axis_off()
        axes[row, 0].set_title(f"{LABELS.get(name, name)} field", loc="left", fontsize=10)
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6, label="field / median")
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def losses_figure(losses: dict[str, list[float]], out_file: Path) -> Path:
    """Plot each method's loss at every optimisation step ({method: losses}) in its colour; return the PNG."""
    fig = _figure(figsize=(5, 2.6))
    ax = fig.subplots()
    for method, values in losses.items():
        ax.plot(np.arange(1, len(values) + 1), values, color=COLOURS[method], label=LABELS[method])
    if len(losses) > 1:
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss")
    ax.set_title(f"{', '.join(LABELS[m] for m in losses)} optimisation", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def selfcheck_figure(check: dict, out_file: Path) -> Path:
    """Plot each signal's share of each method's estimated error, and the estimate (of
    :meth:`inuprep.evaluation.selfcheck.SelfCheckResult.to_dict`); return the PNG."""
    methods, weights = list(check["Signals"]), check["Weights"]
    used = [s for s, w in weights.items() if w]
    groups = [*used, "estimate"]
    fig = _figure(figsize=(7, 2.6))
    ax = fig.subplots()
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        shares = [
            weights[s] * (check["Signals"][method][s] - np.mean([v[s] for v in check["Signals"].values()]))
            for s in used
        ]
        positions = np.arange(len(groups)) + (index - (len(methods) - 1) / 2) * width
        chosen = ", recommended" if method == check["Recommended"] else ""
        label = f"{LABELS[method]} ({check['EstimatedErrors'][method]:+.1%}{chosen})"
        values = np.multiply([*shares, check["EstimatedErrors"][method]], 100)
        ax.bar(positions, values, width, color=COLOURS[method], label=label)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    ax.set_ylabel("against the mean (%)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title("estimated error, signal by signal (lower is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def harmonized_figure(before: Path, after: Path, labels: dict[str, str], dseg: Path, out_file: Path) -> Path:
    """Plot ``before`` and ``after`` (axial, through the masks' centre) and the histogram of each inside the
    masks, on its own axis (their units differ); ``labels`` names the two; return the PNG."""
    mask = _canonical(dseg) > 0
    centre = _centre(mask)
    fig = _figure(figsize=(11, 2.8))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1.3, 1.3]})
    for col, (name, path) in enumerate(((labels["before"], before), (labels["after"], after))):
        volume = _canonical(path)
        low, high = np.percentile(volume[mask], [0.5, 99.5])
        axes[col].imshow(
            _planes(volume, centre)[2], cmap="gray", vmin=low, vmax=high, interpolation="nearest"
        )
        axes[col].set_axis_off()
        axes[col].set_title(name, loc="left", fontsize=9)
        histogram = axes[col + 2]
        histogram.hist(volume[mask], bins=100, range=(0, high * 1.1), color=("#888888", "#2a7ab0")[col])
        histogram.set_title(f"{name}: histogram", fontsize=9)
        histogram.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_file, dpi=90, format="png")
    return out_file


def draw_image_figures(
    source: Path,
    corrected: dict[str, Path],
    fields: dict[str, Path],
    losses: dict[str, list[float]],
    dseg: Path,
    dseg_tsv: Path,
    out_paths: dict[str, Path],
    harmonized: tuple[str, Path] | None = None,
    selfcheck: dict | None = None,
) -> list[Path]:
    """Draw one image's figures (``IMAGE_FIGURES``) atomically at ``out_paths`` ({kind: path}) and return
    them; ``harmonized`` is (the correction harmonized, the harmonized image), ``selfcheck`` the self-check.
    A kind with nothing to show (no method with losses, no harmonization, no self-check) is removed, so no
    earlier run's copy stays."""
    _, tissues = read_label_table(dseg_tsv)
    draw = {"views": lambda f: views_figure({"original": source, **corrected}, dseg, tissues, f)}
    if fields:
        draw["fields"] = lambda f: fields_figure(fields, dseg, f)
    if losses:
        draw["losses"] = lambda f: losses_figure(losses, f)
    if selfcheck:
        draw["selfcheck"] = lambda f: selfcheck_figure(selfcheck, f)
    if harmonized:
        method, image = harmonized
        names = {"before": f"{LABELS[method]} (before)", "after": "harmonized"}
        draw["harmonized"] = lambda f: harmonized_figure(corrected[method], image, names, dseg, f)
    for kind, path in out_paths.items():
        if kind not in draw:
            path.unlink(missing_ok=True)
            continue
        with replacing(path) as tmp:
            draw[kind](tmp)
    return [out_paths[kind] for kind in draw]
