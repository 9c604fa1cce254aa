"""Training images with no medical content: procedural dead leaves and the photographs packages ship.

Everything is generated from a ``torch.Generator``, so a seed gives the same training set on any machine with
the same packages. Images are (N, 1, S, S) in (0, 1]; masks are (N, 1, S, S) of 0/1.
"""

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: the photographs used, by package: non-medical only. Left out on purpose: matplotlib's s1045.ima.gz (an MRI
#: slice) and scikit-image's cell, ihc, microaneurysms, retina, phantom, brain and cells3d (microscopy,
#: fundus, MRI), and its synthetic drawings (chessboard, logo, horse, color, clock_motion).
PHOTOS = {
    "matplotlib": ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "jacksboro_fault_dem.npz",
                   "topobathy.npz"),
    "skimage": ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
                "grass.png", "gravel.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png",
                "motorcycle_right.png", "page.png", "rocket.jpg", "text.png"),
}  # fmt: skip


def photo_paths() -> list[Path]:
    """Return the paths of the photographs of ``PHOTOS`` that the installed packages provide."""
    folders = {}
    import matplotlib

    folders["matplotlib"] = Path(matplotlib.get_data_path()) / "sample_data"
    try:
        import skimage

        folders["skimage"] = Path(skimage.__file__).parent / "data"
    except ImportError:
        pass
    paths = [folders[pkg] / name for pkg, names in PHOTOS.items() if pkg in folders for name in names]
    return [path for path in paths if path.exists()]


def read_photo(path: Path) -> np.ndarray:
    """Return a photograph (or elevation map) as a 2D float array scaled to [0, 1]."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            image = np.asarray(npz["elevation" if "elevation" in npz.files else "topo"], dtype=np.float64)
    else:
        from PIL import Image

        image = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    image = image - image.min()
    return (image / max(image.max(), 1e-6)).astype(np.float32)


def photo_crops(count: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Return ``count`` crops of the photographs (shared out evenly), each of a random square region of at
    least a quarter of the shorter side, resized to ``size`` (area averaging)."""
    photos = [torch.from_numpy(read_photo(path)) for path in photo_paths()]
    crops = []
    for i in range(count):
        image = photos[i % len(photos)]
        height, width = image.shape
        side = int(min(height, width) * (0.25 + 0.75 * float(torch.rand(1, generator=gen))))
        y = int(torch.randint(0, height - side + 1, (1,), generator=gen))
        x = int(torch.randint(0, width - side + 1, (1,), generator=gen))
        crops.append(
            F.interpolate(image[None, None, y : y + side, x : x + side], size=(size, size), mode="area")
        )
    return torch.cat(crops).clamp(0.0, 1.0)


def dead_leaves(count: int, size: int, gen: torch.Generator, leaves: int = 400) -> torch.Tensor:
    """Return ``count`` label maps (N, S, S) of the dead-leaves model: ``leaves`` random ellipses, each
    hiding those behind it, with radii of density r^-3 between 1.5 pixels and half the image (the
    scale-invariant statistics of natural images; Lee, Mumford and Huang 2001; Baradad et al. 2021).
    Each pixel holds the index (0-7) of the class of the front-most leaf over it: a caller gives classes
    intensities, so one map serves many images."""
    r_min, r_max = 1.5, size / 2
    u = torch.rand(count, leaves, generator=gen)
    radius = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
    centre = torch.rand(count, leaves, 2, generator=gen) * (size + 2 * radius[..., None]) - radius[..., None]
    angle = torch.rand(count, leaves, generator=gen) * math.pi
    aspect = 1.0 + 2.0 * torch.rand(count, leaves, generator=gen)  # major / minor axis
    classes = torch.randint(0, 8, (count, leaves), generator=gen)
    grid = torch.arange(size, dtype=torch.float32) + 0.5
    labels = torch.empty(count, size, size, dtype=torch.int64)
    for n in range(count):
        dy = grid[None, :, None] - centre[n, :, 0, None, None]
        dx = grid[None, None, :] - centre[n, :, 1, None, None]
        cos, sin = angle[n].cos()[:, None, None], angle[n].sin()[:, None, None]
        along, across = dx * cos + dy * sin, (dy * cos - dx * sin) * aspect[n, :, None, None]
        inside = along**2 + across**2 <= radius[n, :, None, None] ** 2  # (leaves, S, S), leaf 0 in front
        front = torch.where(inside.any(0), inside.float().argmax(0), leaves - 1)
        labels[n] = classes[n][front]
    return labels


def colour(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Return images (N, 1, S, S) from label maps: each of 2-6 used intensity levels in [0.1, 1] (a class's
    level is one of them), a 5 % within-class texture and a blur of up to one pixel (partial volume)."""
    count = labels.shape[0]
    levels = 0.1 + 0.9 * torch.rand(count, 8, generator=gen)
    used = torch.randint(2, 7, (count, 1), generator=gen)
    levels = torch.gather(levels, 1, torch.arange(8)[None] % used)  # classes share a few levels
    image = torch.gather(levels, 1, labels.flatten(1)).view(labels.shape)[:, None]
    image = image * (1 + 0.05 * blur(torch.randn(image.shape, generator=gen), 0.7))
    sigma = float(torch.rand(1, generator=gen))
    return blur(image, sigma).clamp(min=0.02)


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return (N, 1, H, W) images convolved with a Gaussian of ``sigma`` pixels (edges replicated)."""
    if sigma < 0.2:
        return image
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


def random_masks(count: int, size: int, gen: torch.Generator, full: float = 0.3) -> torch.Tensor:
    """Return (N, 1, S, S) foreground masks: a fraction ``full`` of whole images, the rest blobs (an ellipse
    whose radius wobbles with the angle) covering about a third to all of the image, like a head or brain."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    y, x = grid[:, None], grid[None, :]
    masks = torch.ones(count, 1, size, size)
    for n in range(count):
        if float(torch.rand(1, generator=gen)) < full:
            continue
        cy, cx = (torch.rand(2, generator=gen) - 0.5) * 0.4
        ay, ax = 0.55 + 0.5 * torch.rand(2, generator=gen)
        theta = torch.atan2(y - cy, x - cx)
        wobble = 1 + sum(
            0.08 * torch.randn(1, generator=gen) * torch.cos(k * theta + 6.3 * torch.rand(1, generator=gen))
            for k in (2, 3, 4)
        )
        masks[n, 0] = (((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2).sqrt() <= wobble
    return masks


def random_log_fields(count: int, size: int, gen: torch.Generator, mask: torch.Tensor) -> torch.Tensor:
    """Return smooth random log gain fields (N, 1, S, S), centred inside ``mask``: half a cubic polynomial,
    half a 4 x 4 grid of random values upsampled (bicubic), mixed, scaled to a max/min ratio inside the mask
    drawn from 1-1.3 (up to Simko's 30 %) for half the fields and 1.3-3 (stronger) for the other half."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    y, x = grid[:, None], grid[None, :]
    terms = torch.stack([y**i * x**j for i in range(4) for j in range(4 - i)])  # 10 monomials
    poly = torch.einsum("nk,khw->nhw", torch.randn(count, len(terms), generator=gen), terms)[:, None]
    coarse = torch.randn(count, 1, 4, 4, generator=gen)
    bumps = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    mix = torch.rand(count, 1, 1, 1, generator=gen)
    field = mix * poly / poly.flatten(1).std(1).view(-1, 1, 1, 1) + (1 - mix) * bumps
    high = torch.where(mask > 0, field, -torch.inf).amax((2, 3), keepdim=True)
    spread = high - torch.where(mask > 0, field, torch.inf).amin((2, 3), keepdim=True)
    strong = torch.rand(count, 1, 1, 1, generator=gen) < 0.5
    ratio = torch.where(strong, 1.3 + 1.7 * torch.rand(count, 1, 1, 1, generator=gen),
                        1.0 + 0.3 * torch.rand(count, 1, 1, 1, generator=gen))  # fmt: skip
    field = field / spread.clamp(min=1e-6) * ratio.log()
    return field - (field * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True)
