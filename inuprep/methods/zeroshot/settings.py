"""The zero-shot method's settings (torch-free, so the parser and the workflows can read them).

Four variants (``ZeroShotSettings.variant``):

``paper``
    As printed in the paper: the network sees the image downsampled by 8 and predicts alpha (tanh) and a bias
    map B (sigmoid); four Zero-DCE curves HC^n = HC^(n-1) + alpha HC^(n-1) (1 - HC^(n-1)) give X_hat;
    L = 1600 L_smo(alpha) + L_spa + L_exp + |Y - X_hat B|_1 + L_smo(B); Adam lr 0.005, weight decay 1e-4,
    100 steps. The output is X_hat returned to the input's intensity scale.
``entropy``
    The same network, optimiser and per-image spirit; the first map is a log-field, the output is
    Y / exp(field), and the loss is the entropy of the histogram of the log-corrected image inside the
    object plus 30 L_smo(field): the histogram-sharpening principle of N3/N4 (and Perez-Caballero et al.,
    MIDL 2024) in place of the curves' exposure and contrast terms.
``sharpen``
    The entropy variant's network and field, with N4's own target in place of the entropy: at every step
    each log-corrected value v is pulled toward E[u | v], the posterior mean of N4's Wiener-deconvolved
    histogram (``losses.sharpened``; a stop-gradient least-squares target), plus 2 L_smo(field), for 250
    steps. The per-value target cannot merge two tissue peaks by a smooth field that follows the anatomy, as
    the entropy of the whole histogram may, so the smoothness penalty can be 15x weaker.
``local`` (default)
    The sharpen variant's network, field and target, each value's target taken from the histogram of its
    own block (cubes of ``block_mm``, 60 mm, the grid of blocks moved at random every step) instead of the
    whole image's. On a raw head the global target is lowered by a field that moves distant anatomy onto
    one another's peaks (the brain against the scalp, the WM core against the GM rim: issue 45); within a
    block there is little distant anatomy to move, while a field still blurs every block's histogram.
    Every voxel of the mask (scalp fat, skull, neck) is in its block's histogram, as in N4's.

The choices the paper leaves open (normalisation, the network's grid, the field's smoothing and bound, the
histogram, the schedule, the output) and what the benchmarks said of each: ``benchmarks/README.md``.
"""

from dataclasses import asdict, dataclass, replace

from inuprep.options import setting

VARIANTS = ("local", "sharpen", "entropy", "paper")


@dataclass(frozen=True)
class ZeroShotSettings:
    """Parameters of the per-image optimisation; 0 means the variant's default (see ``resolved``)."""

    variant: str = setting(
        VARIANTS[0],
        "N4's sharpening target on each block's histogram or on the whole image's, or the entropy of the "
        "histogram, each with a smooth log-field, or the paper's losses as printed",
        choices=VARIANTS,
    )
    iterations: int = setting(0, "optimisation steps (0: the variant's, 250, 200 or 100)")
    learning_rate: float = setting(
        0.0, "Adam step (0: the variant's, 0.02 or 0.005; the paper used 0.0005 for Dixon images)"
    )
    weight_decay: float = 1e-4
    input_downsample: int = 0  # 8 (the paper) for 'paper', else a ~16 mm grid
    loss_grid_mm: float = 4.0  # the losses are computed on a grid of about this voxel size
    curve_steps: int = 4
    exposure_level: float = 0.6
    smoothness_weight: float = 0.0  # weight of L_smo(log-field): 30 for 'entropy', 2 for the others
    field_smoothing_mm: float = 40.0  # the field variants (all but 'paper'): Gaussian sigma of the log-field
    # the field variants, > 0: a cubic B-spline on control points this far apart replaces the Gaussian (issue
    # 33's lead, benchmarks/README.md question 2; not the default until it is judged against N4)
    field_spline_mm: float = 0.0
    max_log_field: float = 1.5  # the field variants: |log-field| bound (field ratio up to e^3 = 20)
    max_samples: int = 50_000  # the field variants: voxels in the histogram
    histogram_bins: int = 256  # entropy variant: bins spanning the input's log range (+-0.5)
    sharpen_fwhm: float = 0.08  # local and sharpen: N4's deconvolution kernel in log units (N4: 0.15)
    block_mm: float = 60.0  # local variant: the side of the blocks whose histograms are sharpened
    seed: int = setting(0, "random seed of the optimisation")

    def resolved(self, zooms: tuple[float, ...]) -> "ZeroShotSettings":
        """Return these settings with every 0 replaced by the variant's default for voxels of ``zooms``."""
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown zero-shot variant '{self.variant}'; use one of {', '.join(VARIANTS)}")
        paper = self.variant == "paper"
        return replace(
            self,
            iterations=self.iterations or {"paper": 100, "entropy": 200}.get(self.variant, 250),
            learning_rate=self.learning_rate or (0.005 if paper else 0.02),
            input_downsample=self.input_downsample or (8 if paper else max(1, round(16.0 / min(zooms)))),
            smoothness_weight=self.smoothness_weight
            or {"entropy": 30.0, "paper": 0.0}.get(self.variant, 2.0),
        )

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready metadata."""
        return asdict(self)

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        s = self.resolved((1.0, 1.0, 1.0))  # the voxel size changes only the default input grid
        common = (
            f"Zero-shot bias correction [@zeroshot] was run with inuprep ({s.variant} variant): a light 3D "
            f"CNN of depthwise-separable convolutions (about 3,000 parameters) was optimised on this image "
            f"alone with Adam ({s.iterations} steps, learning rate {s.learning_rate:g}"
        )
        if s.variant == "paper":
            grid = f"downsampled by {s.input_downsample}"
            return (
                f"{common}, weight decay {s.weight_decay:g}, seed {s.seed}); from the image {grid} it "
                f"predicted the parameters of {s.curve_steps} light-enhancement curves and a bias map, "
                "under the paper's smoothness, spatial-consistency, exposure "
                f"(level {s.exposure_level:g}) and reconstruction losses on a grid of about "
                f"{s.loss_grid_mm:g} mm; the output is the enhanced image on the input's intensity scale."
            )
        grid = f"downsampled by {s.input_downsample}" if self.input_downsample else "on a grid of about 16 mm"
        target = (
            f"the entropy of the log-corrected intensities ({s.histogram_bins} bins)"
            if s.variant == "entropy"
            else "the squared distance of each log-corrected intensity to its sharpened value, the posterior "
            f"mean of N4's Wiener-deconvolved histogram [@n4] (kernel FWHM {s.sharpen_fwhm:g})"
        )
        if s.variant == "local":
            target += (
                f", each from the histogram of its own {s.block_mm:g} mm block (placed at random at every "
                "step),"
            )
        smooth = (
            f"a cubic B-spline on control points {s.field_spline_mm:g} mm apart"
            if s.field_spline_mm > 0
            else f"smoothed by a Gaussian of {s.field_smoothing_mm:g} mm"
        )
        return (
            f"{common} decayed to 0 along a cosine, weight decay {s.weight_decay:g}, seed {s.seed}); from "
            f"the image {grid} and the voxel coordinates it predicted a log-field, {smooth} and bounded to "
            f"+-{s.max_log_field:g}, chosen to minimise {target} "
            f"inside the image's foreground (at most {s.max_samples} voxels of a grid of about "
            f"{s.loss_grid_mm:g} mm) plus {s.smoothness_weight:g} times the field's smoothness penalty; the "
            "output is the image divided by the field."
        )
