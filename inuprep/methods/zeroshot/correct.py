"""Per-image optimisation of the zero-shot network: no training data, one image, a few seconds.

The variants and their settings: :mod:`.settings`; what each choice measured: ``benchmarks/README.md``.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from inuprep.image import field_from_correction
from inuprep.methods.base import Corrected
from inuprep.methods.zeroshot import losses as L
from inuprep.methods.zeroshot.network import ZeroShotNet
from inuprep.methods.zeroshot.optim import Adam
from inuprep.methods.zeroshot.settings import ZeroShotSettings
from inuprep.runtime import torch_device


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
    settings: ZeroShotSettings | None = None,
    device: str = "cpu",
    progress=None,
) -> ZeroShotResult:
    """Return the zero-shot correction of a 3D image (data = corrected x field, up to a global scale).

    ``progress(step, loss)``, when given, is called after every optimisation step (steps count from 1).
    """
    settings = (settings or ZeroShotSettings()).resolved(zooms)
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
        small = F.avg_pool3d(self.full, self.loss_zoom, ceil_mode=True)
        return small, F.avg_pool3d(self.full_mask.float(), self.loss_zoom, ceil_mode=True) > 0.5

    def maps(self, net, shape):
        return F.interpolate(net(self.net_input), size=shape, mode="trilinear", align_corners=False)

    def curves(self, image, alpha):
        for _ in range(self.settings.curve_steps):
            image = image + alpha * image * (1 - image)
        return image

    def loss(self, net):
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
        alpha = torch.tanh(self.maps(net, self.data.shape)[:, :1])
        corrected = self.curves(self.full, alpha)[0, 0].cpu().numpy() * self.scale
        return corrected, field_from_correction(self.data, corrected)


class FieldObjective(_Objective):
    """``local``, ``sharpen`` and ``entropy``: a smooth log-field, judged on the log-corrected intensities."""

    def __init__(self, data, zooms, mask, settings: ZeroShotSettings, device: str):
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
        coarse_mm = min(zooms) * settings.input_downsample
        if settings.field_spline_mm > 0:
            spacing = settings.field_spline_mm / coarse_mm
            self.resampling = lambda shape: spline_resampling(self.coarse_shape, shape, spacing, device)
        else:
            sigma = settings.field_smoothing_mm / coarse_mm
            self.resampling = lambda shape: field_resampling(self.coarse_shape, shape, sigma, device)
        self.to_loss_grid = self.resampling(self.small.shape[2:])
        # each sample's position in blocks, and the blocks along each axis, for the local variant
        grid = torch.stack(torch.meshgrid(*[torch.arange(n) for n in self.small.shape[2:]], indexing="ij"))
        mm = grid.flatten(1).T[self.samples.cpu()].float() * (min(zooms) * self.loss_zoom)
        self.sample_block = (mm / settings.block_mm).to(device)
        self.block_dims = [int(n) + 2 for n in self.sample_block.max(0).values]  # room for the shift
        self.generator = generator  # the blocks' placement at every step

    def loss_grid(self):  # every loss_zoom-th voxel, as N4 shrinks: averaging would blur the tissue peaks
        step = self.loss_zoom
        return self.full[..., ::step, ::step, ::step], self.full_mask[..., ::step, ::step, ::step]

    def extra_channels(self, net_input):  # where it is: a field may depend on position, not only anatomy
        axes = torch.meshgrid(*[torch.linspace(-1, 1, n) for n in self.coarse_shape], indexing="ij")
        return torch.cat([net_input, torch.stack(axes)[None].to(self.device)], dim=1)

    def learning_rate(self, step: int) -> float:  # cosine decay to 0 (the paper: a constant rate)
        return self.settings.learning_rate * 0.5 * (1 + np.cos(np.pi * step / self.settings.iterations))

    def log_field(self, net, matrices):
        log_field = self.settings.max_log_field * torch.tanh(net(self.net_input)[0, 0])
        for axis, matrix in enumerate(matrices):  # smoothed and resampled one axis at a time
            log_field = torch.movedim(torch.tensordot(matrix, log_field, dims=([1], [axis])), 0, axis)
        return log_field[None, None]

    def loss(self, net):
        settings = self.settings
        log_field = self.log_field(net, self.to_loss_grid)
        flat = log_field.flatten()
        values = self.sampled_log - flat[self.samples] + flat[self.inside].mean()
        if settings.variant == "entropy":
            data_term = L.soft_histogram_entropy(
                values, settings.histogram_bins, value_range=self.value_range
            )
        else:  # toward N4's sharpened values (constants for the gradient), 'local': of each block's own
            blocks, count = self.blocks() if settings.variant == "local" else (None, 1)
            target = L.sharpened(values, fwhm=settings.sharpen_fwhm, groups=blocks, n_groups=count)
            data_term = 100 * ((values - target) ** 2).mean()
        return data_term + settings.smoothness_weight * L.smoothness(log_field)

    def blocks(self) -> tuple[torch.Tensor, int]:
        """Return each sample's block (cubes of ``block_mm``, the grid moved at random) and their number."""
        shift = torch.rand(3, generator=self.generator).to(self.device)
        block = (self.sample_block + shift).long()  # non-negative: truncation is floor
        _, ny, nz = self.block_dims
        return (block[:, 0] * ny + block[:, 1]) * nz + block[:, 2], math.prod(self.block_dims)

    def result(self, net):
        to_image = self.resampling(self.data.shape)
        offset = self.log_field(net, self.to_loss_grid).flatten()[self.inside].mean()
        field = torch.exp(self.log_field(net, to_image) - offset)[0, 0].cpu().numpy()
        return self.data / field, field


def field_resampling(coarse_shape, shape, sigma: float, device: str = "cpu") -> list:
    """Return, per axis, the matrix (len(shape[i]) x len(coarse_shape[i])) of ``gaussian_smooth`` by ``sigma``
    then trilinear resampling (``align_corners=False``) from the coarse grid onto ``shape``.

    Both operations are separable and linear, so the field's smoothing and upsampling are three small
    matrix products: the same values as conv3d and interpolate, several times cheaper forward and backward.
    """
    matrices = []
    for n, m in zip(coarse_shape, shape, strict=True):
        basis = torch.eye(n).view(n, 1, n, 1, 1)  # the other axes have length 1: smoothing leaves them
        if sigma > 0:
            basis = gaussian_smooth(basis, sigma)
        resampled = F.interpolate(basis, size=(m, 1, 1), mode="trilinear", align_corners=False)
        matrices.append(resampled.view(n, m).T.contiguous().to(device))
    return matrices


def spline_resampling(coarse_shape, shape, spacing: float, device: str = "cpu") -> list:
    """Return, per axis, the matrix (len(shape[i]) x len(coarse_shape[i])) that samples the coarse values
    (linearly; beyond the ends, the end value) at control points ``spacing`` coarse voxels apart, two beyond
    each end, and evaluates their cubic B-spline on ``shape`` (``align_corners=False``); rows are
    normalised to sum to 1.

    Away from the ends a straight line of coarse values stays straight (cubic B-splines reproduce lines);
    near them it flattens, as a Gaussian with replicated edges does. Extrapolating the ends linearly keeps
    the line but lost this option's gain on the tuning cases (benchmarks/README.md, question 2).
    """
    import numpy as np

    matrices = []
    for n, m in zip(coarse_shape, shape, strict=True):
        knots = spacing * (np.arange(int(np.ceil((n - 1) / spacing)) + 5) - 2)  # the support of every voxel
        at = np.clip(knots, 0, n - 1)  # the coarse values at each control point (the end ones beyond)
        low = np.clip(np.floor(at).astype(int), 0, max(n - 2, 0))
        sample = np.zeros((len(knots), n))
        np.add.at(sample, (np.arange(len(knots)), low), 1 - (at - low))
        np.add.at(sample, (np.arange(len(knots)), np.minimum(low + 1, n - 1)), at - low)
        distance = np.abs(((np.arange(m) + 0.5) * n / m - 0.5)[:, None] - knots[None, :]) / spacing
        spline = np.where(distance < 1, 2 / 3 - distance**2 + distance**3 / 2,
                          np.where(distance < 2, (2 - distance) ** 3 / 6, 0.0))  # fmt: skip
        matrix = spline @ sample
        matrices.append(
            torch.tensor(matrix / matrix.sum(axis=1, keepdims=True), dtype=torch.float32).to(device)
        )
    return matrices


def gaussian_smooth(x, sigma: float):
    """Return ``x`` (N, 1, X, Y, Z) convolved with a Gaussian of ``sigma`` voxels (edges replicated)."""
    kernel = L.gaussian_kernel(sigma, x)
    radius = kernel.numel() // 2
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        padding = [0] * 6
        padding[2 * (2 - axis)] = padding[2 * (2 - axis) + 1] = radius
        x = F.conv3d(F.pad(x, padding, mode="replicate"), kernel.view(shape))
    return x


def correct(
    data, zooms, mask, settings: ZeroShotSettings, num_threads=1, device="auto", progress=None
) -> Corrected:
    """Return :func:`zeroshot_correct`'s image and field, and the device and losses for the sidecar."""
    device = torch_device(num_threads, device)
    result = zeroshot_correct(data, zooms, mask, settings, device=device, progress=progress)
    return result.corrected, result.field, {"Device": device, "Losses": result.losses}
