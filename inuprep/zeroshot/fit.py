"""Per-image optimisation of the zero-shot network: no training data, one image, a few seconds.

Three variants (``ZeroShotSettings.variant``):

``paper``
    As printed in the paper: the network sees the image downsampled by 8 and predicts alpha (tanh) and a bias
    map B (sigmoid); four Zero-DCE curves HC^n = HC^(n-1) + alpha HC^(n-1) (1 - HC^(n-1)) give X_hat;
    L = 1600 L_smo(alpha) + L_spa + L_exp + |Y - X_hat B|_1 + L_smo(B); Adam lr 0.005, weight decay 1e-4,
    100 steps. The output is X_hat returned to the input's intensity scale. It lowers CV by compressing
    contrast and removes little bias (CJV about 3 where the input had 0.67).
``entropy``
    The same network, optimiser and per-image spirit; the first map is a log-field, the output is
    Y / exp(field), and the loss is the entropy of the histogram of the log-corrected image inside the
    object plus 30 L_smo(field): the histogram-sharpening principle of N3/N4 (and Perez-Caballero et al.,
    MIDL 2024) in place of the curves' exposure and contrast terms.
``sharpen`` (default)
    The entropy variant's network and field, with N4's own target in place of the entropy: at every step
    each log-corrected value v is pulled toward E[u | v], the posterior mean of N4's Wiener-deconvolved
    histogram (``losses.sharpened``; a stop-gradient least-squares target, kernel FWHM 0.08 in log units),
    plus 2 L_smo(field), for 250 steps. The entropy of the whole histogram may merge two tissue peaks by a
    smooth field that follows the anatomy (the demo's central-WM ring), and its L_smo weight of 30 shrank
    smooth fields (slope of the estimated on the true log-field 0.91 on polynomial fields); the local
    target cannot merge peaks, so the penalty can be 15x weaker (issue 12; benchmarks/README.md).

Choices the paper leaves open, and what ``benchmarks/`` said (MNI152 at 2 mm, three fields of each family at
max/min 3 inside the brain; mean CJV over polynomial / coil / B-spline fields; N4 0.305 / 0.428 / 0.712):

- intensities are scaled by the 99.5th percentile inside the mask and clipped to [0, 1];
- the network sees the image on a ~16 mm grid (the paper's downsampling by 8 let the field absorb anatomy at
  1 mm) plus three coordinate channels: from the image alone the field could only be a function of the
  local anatomy (coordinates and 200 steps: 0.424 / 0.660 / 0.798 -> 0.390 / 0.548 / 0.655);
- the log-field is smoothed by a Gaussian of 32 mm on that grid (24, 48 and 64 mm were worse) and bounded
  by 1.5 |tanh|; a fixed L_smo weight of 1000 held strong fields back (coil 1.16) and 0 let them absorb
  anatomy, 30 was best (0.333 / 0.439 / 0.559);
- the entropy is taken on every 4 mm-th voxel (strided like N4's shrink; averaging blurred the tissue
  peaks), with 256 bins over the input's log range widened by 0.5 each side, each value shared linearly
  between two bins and the histogram smoothed by one bin (bins that followed the values' own range let the
  optimiser widen it and collapse to a constant field on one B-spline case); with L_smo weight 100,
  polynomial / coil: 128 bins 0.364 / 0.519, 256 bins 0.348 / 0.485; this O(n) histogram instead of a
  Gaussian kernel per bin made a step 10x cheaper;
- Adam for 200 steps, lr 0.02 decayed to 0 along a cosine (a constant 0.03 sometimes killed the network: a
  constant field; a constant 0.01: 0.333 / 0.439 / 0.559, the decay: 0.336 / 0.430 / 0.514);
- the output is Y / exp(field), never X_hat: the curves change contrast.
"""

from dataclasses import asdict, dataclass, field, replace

import numpy as np

VARIANTS = ("sharpen", "entropy", "paper")


@dataclass(frozen=True)
class ZeroShotSettings:
    """Parameters of the per-image optimisation; 0 means the variant's default (see ``resolved``)."""

    variant: str = "sharpen"
    iterations: int = 0  # 100 (the paper) for 'paper', 200 for 'entropy', 250 for 'sharpen'
    learning_rate: float = 0.0  # 0.005 (the paper's, brain) for 'paper', else 0.02 (cosine decay)
    weight_decay: float = 1e-4
    input_downsample: int = 0  # 8 (the paper) for 'paper', else a ~16 mm grid
    loss_grid_mm: float = 4.0  # the losses are computed on a grid of about this voxel size
    curve_steps: int = 4
    exposure_level: float = 0.6
    smoothness_weight: float = 0.0  # weight of L_smo(log-field): 30 for 'entropy', 2 for 'sharpen'
    field_smoothing_mm: float = 32.0  # entropy/sharpen: Gaussian sigma of the log-field (network grid)
    max_log_field: float = 1.5  # entropy/sharpen: |log-field| bound (field ratio up to e^3 = 20)
    max_samples: int = 50_000  # entropy/sharpen: voxels in the histogram
    histogram_bins: int = 256  # entropy variant: bins spanning the input's log range (+-0.5)
    sharpen_fwhm: float = 0.08  # sharpen variant: N4's deconvolution kernel in log units (N4: 0.15)
    seed: int = 0

    def resolved(self, zooms: tuple[float, ...]) -> "ZeroShotSettings":
        """Return these settings with every 0 replaced by the variant's default for voxels of ``zooms``."""
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown zero-shot variant '{self.variant}'; use one of {', '.join(VARIANTS)}")
        paper = self.variant == "paper"
        return replace(
            self,
            iterations=self.iterations or {"paper": 100, "entropy": 200, "sharpen": 250}[self.variant],
            learning_rate=self.learning_rate or (0.005 if paper else 0.02),
            input_downsample=self.input_downsample or (8 if paper else max(1, round(16.0 / min(zooms)))),
            smoothness_weight=self.smoothness_weight
            or {"entropy": 30.0, "sharpen": 2.0}.get(self.variant, 0),
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
        return (
            f"{common} decayed to 0 along a cosine, weight decay {s.weight_decay:g}, seed {s.seed}); from "
            f"the image {grid} and the voxel coordinates it predicted a log-field, smoothed by a Gaussian of "
            f"{s.field_smoothing_mm:g} mm and bounded to +-{s.max_log_field:g}, chosen to minimise {target} "
            f"inside the image's foreground (at most {s.max_samples} voxels of a grid of about "
            f"{s.loss_grid_mm:g} mm) plus {s.smoothness_weight:g} times the field's smoothness penalty; the "
            "output is the image divided by the field."
        )


@dataclass
class ZeroShotResult:
    """A corrected image on the input's scale, its multiplicative field and the loss of every step."""

    corrected: np.ndarray
    field: np.ndarray
    losses: list[float] = field(default_factory=list)


def zeroshot_correct(
    data: np.ndarray,
    zooms: tuple[float, ...],
    mask: np.ndarray,
    settings: ZeroShotSettings = ZeroShotSettings(),
    device: str = "cpu",
    progress=None,
) -> ZeroShotResult:
    """Return the zero-shot correction of a 3D image (data = corrected x field, up to a global scale).

    ``progress(step, loss)``, when given, is called after every optimisation step (steps count from 1).
    """
    import torch

    from inuprep.zeroshot.model import ZeroShotNet
    from inuprep.zeroshot.optim import Adam

    settings = settings.resolved(zooms)
    torch.manual_seed(settings.seed)
    objective = (PaperObjective if settings.variant == "paper" else FieldObjective)(
        data, zooms, mask, settings, device
    )
    # channels last: PyTorch's depthwise conv3d runs about twice as fast forward and backward on CPU
    net = ZeroShotNet(in_channels=objective.net_input.shape[1])
    net = net.to(device, memory_format=torch.channels_last_3d)
    optimiser = Adam(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    history = []
    for step in range(settings.iterations):
        optimiser.lr = objective.learning_rate(step)
        optimiser.zero_grad()
        loss = objective.loss(net)
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, history[-1])
    with torch.no_grad():
        corrected, field = objective.result(net)
    return ZeroShotResult(corrected.astype(np.float32), field.astype(np.float32), history)


class _Objective:
    """What one variant optimises: the image on the losses' grid, the network's input, the loss, the output.

    Shared setup: intensities scaled by the 99.5th percentile inside the mask and clipped to [0, 1]; the
    network sees the image averaged onto a coarse grid (``input_downsample``).
    """

    def __init__(self, data, zooms, mask, settings: ZeroShotSettings, device: str):
        import torch
        import torch.nn.functional as F

        self.settings, self.device = settings, device
        self.data = np.clip(np.asarray(data, dtype=np.float32), 0, None)
        mask = np.asarray(mask, dtype=bool) & (self.data > 0)
        self.scale = float(np.percentile(self.data[mask], 99.5)) if mask.any() else float(self.data.max())
        self.full = torch.from_numpy(np.clip(self.data / self.scale, 0, 1))[None, None].to(device)
        self.full_mask = torch.from_numpy(mask)[None, None].to(device)
        self.loss_zoom = max(1, round(settings.loss_grid_mm / min(zooms)))
        self.small, self.small_mask = self.loss_grid()
        if not self.small_mask.any():  # a mask smaller than the loss grid: use every voxel
            self.small, self.small_mask = self.full, self.full_mask
        self.coarse_shape = [max(2, -(-n // settings.input_downsample)) for n in self.data.shape]
        net_input = self.extra_channels(F.adaptive_avg_pool3d(self.full, self.coarse_shape))
        self.net_input = net_input.contiguous(memory_format=torch.channels_last_3d)

    def loss_grid(self):
        """Return the image and its mask on the losses' grid."""
        raise NotImplementedError

    def extra_channels(self, net_input):
        """Return the network's input: the coarse image and any channel the variant adds."""
        return net_input

    def learning_rate(self, step: int) -> float:
        return self.settings.learning_rate

    def loss(self, net):
        raise NotImplementedError

    def result(self, net) -> tuple[np.ndarray, np.ndarray]:
        """Return the corrected image on the input's scale and the multiplicative field."""
        raise NotImplementedError


class PaperObjective(_Objective):
    """The paper as printed: Zero-DCE curves and a bias map, their losses on region means."""

    def loss_grid(self):
        import torch.nn.functional as F

        small = F.avg_pool3d(self.full, self.loss_zoom, ceil_mode=True)
        return small, F.avg_pool3d(self.full_mask.float(), self.loss_zoom, ceil_mode=True) > 0.5

    def maps(self, net, shape):
        import torch.nn.functional as F

        return F.interpolate(net(self.net_input), size=shape, mode="trilinear", align_corners=False)

    def curves(self, image, alpha):
        for _ in range(self.settings.curve_steps):
            image = image + alpha * image * (1 - image)
        return image

    def loss(self, net):
        import torch

        from inuprep.zeroshot import losses as L

        out = self.maps(net, self.small.shape[2:])
        alpha, bias = torch.tanh(out[:, :1]), torch.sigmoid(out[:, 1:])
        enhanced = self.curves(self.small, alpha)
        return (
            1600 * L.smoothness(alpha)
            + L.spatial_consistency(enhanced, self.small)
            + L.exposure(enhanced, self.settings.exposure_level)
            + (self.small - enhanced * bias).abs().mean()
            + L.smoothness(bias)
        )

    def result(self, net):
        import torch

        from inuprep.image import field_from_correction

        alpha = torch.tanh(self.maps(net, self.data.shape)[:, :1])
        corrected = self.curves(self.full, alpha)[0, 0].cpu().numpy() * self.scale
        return corrected, field_from_correction(self.data, corrected)


class FieldObjective(_Objective):
    """``entropy`` and ``sharpen``: a smooth log-field, judged on the log-corrected intensities."""

    def __init__(self, data, zooms, mask, settings: ZeroShotSettings, device: str):
        import torch

        super().__init__(data, zooms, mask, settings, device)
        generator = torch.Generator().manual_seed(settings.seed)
        # indexed once: boolean masks cost a nonzero a step
        self.inside = self.small_mask.flatten().nonzero().squeeze(1)
        self.samples = self.inside
        if self.inside.numel() > settings.max_samples:
            order = torch.randperm(self.inside.numel(), generator=generator)
            self.samples = self.inside[order[: settings.max_samples].to(device)]
        self.sampled_log = torch.log(self.small.clamp_min(1e-4)).flatten()[self.samples]
        self.value_range = (float(self.sampled_log.min()) - 0.5, float(self.sampled_log.max()) + 0.5)
        # the field's Gaussian (in voxels of the network's grid) and upsampling, as one matrix per axis
        self.smoothing = settings.field_smoothing_mm / (min(zooms) * settings.input_downsample)
        self.to_loss_grid = field_resampling(self.coarse_shape, self.small.shape[2:], self.smoothing, device)

    def loss_grid(self):  # every loss_zoom-th voxel, as N4 shrinks: averaging would blur the tissue peaks
        step = self.loss_zoom
        return self.full[..., ::step, ::step, ::step], self.full_mask[..., ::step, ::step, ::step]

    def extra_channels(self, net_input):  # where it is: a field may depend on position, not only anatomy
        import torch

        axes = torch.meshgrid(*[torch.linspace(-1, 1, n) for n in self.coarse_shape], indexing="ij")
        return torch.cat([net_input, torch.stack(axes)[None].to(self.device)], dim=1)

    def learning_rate(self, step: int) -> float:  # cosine decay to 0 (the paper: a constant rate)
        return self.settings.learning_rate * 0.5 * (1 + np.cos(np.pi * step / self.settings.iterations))

    def log_field(self, net, matrices):
        import torch

        log_field = self.settings.max_log_field * torch.tanh(net(self.net_input)[0, 0])
        for axis, matrix in enumerate(matrices):  # smoothed and resampled one axis at a time
            log_field = torch.movedim(torch.tensordot(matrix, log_field, dims=([1], [axis])), 0, axis)
        return log_field[None, None]

    def loss(self, net):
        from inuprep.zeroshot import losses as L

        settings = self.settings
        log_field = self.log_field(net, self.to_loss_grid)
        flat = log_field.flatten()
        values = self.sampled_log - flat[self.samples] + flat[self.inside].mean()
        if settings.variant == "sharpen":  # toward N4's sharpened values (constants for the gradient)
            data_term = 100 * ((values - L.sharpened(values, fwhm=settings.sharpen_fwhm)) ** 2).mean()
        else:
            data_term = L.soft_histogram_entropy(
                values, settings.histogram_bins, value_range=self.value_range
            )
        return data_term + settings.smoothness_weight * L.smoothness(log_field)

    def result(self, net):
        import torch

        to_image = field_resampling(self.coarse_shape, self.data.shape, self.smoothing, self.device)
        offset = self.log_field(net, self.to_loss_grid).flatten()[self.inside].mean()
        field = torch.exp(self.log_field(net, to_image) - offset)[0, 0].cpu().numpy()
        return self.data / field, field


def field_resampling(coarse_shape, shape, sigma: float, device: str = "cpu") -> list:
    """Return, per axis, the matrix (len(shape[i]) x len(coarse_shape[i])) of ``gaussian_smooth`` by ``sigma``
    then trilinear resampling (``align_corners=False``) from the coarse grid onto ``shape``.

    Both operations are separable and linear, so the field's smoothing and upsampling are three small
    matrix products: the same values as conv3d and interpolate, several times cheaper forward and backward.
    """
    import torch
    import torch.nn.functional as F

    matrices = []
    for n, m in zip(coarse_shape, shape, strict=True):
        basis = torch.eye(n).view(n, 1, n, 1, 1)  # the other axes have length 1: smoothing leaves them
        if sigma > 0:
            basis = gaussian_smooth(basis, sigma)
        resampled = F.interpolate(basis, size=(m, 1, 1), mode="trilinear", align_corners=False)
        matrices.append(resampled.view(n, m).T.contiguous().to(device))
    return matrices


def gaussian_smooth(x, sigma: float):
    """Return ``x`` (N, 1, X, Y, Z) convolved with a Gaussian of ``sigma`` voxels (edges replicated)."""
    import torch.nn.functional as F

    from inuprep.zeroshot.losses import gaussian_kernel

    kernel = gaussian_kernel(sigma, x)
    radius = kernel.numel() // 2
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        padding = [0] * 6
        padding[2 * (2 - axis)] = padding[2 * (2 - axis) + 1] = radius
        x = F.conv3d(F.pad(x, padding, mode="replicate"), kernel.view(shape))
    return x
