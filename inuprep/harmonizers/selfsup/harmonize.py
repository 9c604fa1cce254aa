"""The self-supervised harmonizer: trained on the references alone to undo random acquisition changes.

Three steps: a classical global mapping, a learned local one for what a global mapping cannot do (partial
volume, resolution, residual fields, noise), and the global mapping again, so that the result's histogram
lands on the references' landmarks as Nyul's does. Each reference is scaled to its brain's 99th percentile and
the standard is their mean Nyul landmarks (:mod:`inuprep.harmonizers.landmarks`). Training inputs come from a
pool of whole references, randomly altered (:mod:`.alter`; a share left as they are) and standardised from
their own brain's landmarks, as ``apply`` standardises an image; one pool entry is renewed every ``RENEW``
steps. A training pair is a patch of three adjacent slices (along the third array axis) of a pool entry and
the reference's own centre slice; the loss is the squared error inside the brain. Applied, the network sees
the standardised image slice by slice over the whole plane; its output is standardised again and brought to
the references' scale (their mean 99th percentile). The network works in voxels: ``inuprep-harmonize`` puts
every image on the references' grid (:mod:`inuprep.harmonizers.grid`).
"""

import json
from pathlib import Path

import numpy as np
import torch

from inuprep.harmonizers.landmarks import landmarks, standardize
from inuprep.harmonizers.selfsup.alter import altered
from inuprep.harmonizers.selfsup.network import UNet
from inuprep.harmonizers.selfsup.settings import SelfSupSettings
from inuprep.segmentation.tissue_model import bounding_box

WEIGHTS, SCALE = "network.pt", "standard.json"
CONTEXT = 3  # adjacent slices the network sees
LOG_EVERY = 50  # steps per entry of the loss log
POOL, RENEW = 8, 2  # altered volumes training draws from; steps between two renewals of one of them


def _scaled(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Return ``data`` over its brain's 99th percentile, zero outside ``mask``, and that percentile."""
    scale = float(np.percentile(data[mask], 99))
    return np.where(mask, data / scale, 0).astype(np.float32), scale


def _padded(volume: np.ndarray, size: int) -> np.ndarray:
    """Return ``volume`` zero-padded in-plane to at least ``size`` and a multiple of 4, and by one slice at
    each end (the context of its first and last slices)."""
    plane = [max(size, -(-n // 4) * 4) - n for n in volume.shape[:2]]
    return np.pad(volume, [(0, plane[0]), (0, plane[1]), (1, 1)])


def _slices(mask: np.ndarray) -> np.ndarray:
    """Return the (padded) indices of the slices that hold brain."""
    return np.flatnonzero(mask.any(axis=(0, 1)))


def _entry(references: list, standard: np.ndarray, rng: np.random.Generator) -> tuple:
    """Return one pool entry: a randomly altered reference standardised from its own brain's landmarks, and
    the reference's index."""
    index = int(rng.integers(len(references)))
    image, brain, _ = references[index]
    change = altered(image, brain, rng)
    return np.where(brain, standardize(change, landmarks(change[brain]), standard), 0), index


def _batch(references: list, pool: list, settings: SelfSupSettings, rng: np.random.Generator):
    """Return one batch: patches (B, CONTEXT, P, P) of pool entries, their references' centre slices and
    brains."""
    size, inputs, targets, weights = settings.patch, [], [], []
    for _ in range(settings.batch):
        change, index = pool[rng.integers(len(pool))]
        image, brain, voxels = references[index]
        x, y, z = voxels[rng.integers(len(voxels))]
        corner = [
            int(np.clip(c - size // 2, 0, n - size)) for c, n in zip((x, y), image.shape[:2], strict=True)
        ]
        plane = (slice(corner[0], corner[0] + size), slice(corner[1], corner[1] + size))
        inputs.append(change[(*plane, slice(z - 1, z + 2))].transpose(2, 0, 1))
        targets.append(image[(*plane, z)][None])
        weights.append(brain[(*plane, z)][None])
    return (torch.from_numpy(np.stack(a).astype(np.float32)) for a in (inputs, targets, weights))


def fit(images: list, contrast: str | None, settings: SelfSupSettings, folder: Path) -> list[float]:
    """Train the network on the references; write its weights, the standard landmarks and the references'
    scale into ``folder``; return the mean loss of every ``LOG_EVERY`` steps."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    references, scales = [], []
    for data, mask in images:
        box = bounding_box(mask)  # the brain's: less to alter
        image, scale = _scaled(data[box], mask[box])
        brain = _padded(mask[box], settings.patch).astype(bool)
        references.append((_padded(image, settings.patch), brain, np.argwhere(brain)))
        scales.append(scale)
    standard = np.mean([landmarks(image[brain]) for image, brain, _ in references], axis=0)
    network = UNet(settings.width, CONTEXT)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.steps)
    pool = [_entry(references, standard, rng) for _ in range(POOL)]
    log, running = [], []
    for step in range(settings.steps):
        if step and step % RENEW == 0:
            pool[rng.integers(POOL)] = _entry(references, standard, rng)
        inputs, targets, weights = _batch(references, pool, settings, rng)
        loss = ((network(inputs) - targets) ** 2 * weights).sum() / weights.sum().clamp(min=1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running.append(loss.item())
        if len(running) == LOG_EVERY:
            log.append(round(float(np.mean(running)), 7))
            running = []
    torch.save(network.state_dict(), folder / WEIGHTS)
    record = {"reference_scale": float(np.mean(scales)), "landmarks": standard.tolist()}
    (folder / SCALE).write_text(json.dumps(record) + "\n")
    return log


def apply(data: np.ndarray, mask: np.ndarray, contrast: str | None, settings: SelfSupSettings, folder: Path):
    """Return ``data`` on the references' scale: standardised, every slice that holds brain passed through
    the network, standardised again (outside the brain: standardised once; non-negative)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    network = UNet(settings.width, CONTEXT)
    network.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    network.to(device).eval()
    record = json.loads((folder / SCALE).read_text())
    target = np.array(record["landmarks"])
    standard = standardize(data, landmarks(data[mask]), target)
    image = np.where(mask, standard, 0).astype(np.float32)
    padded, brain = _padded(image, 0), _padded(mask, 0).astype(bool)
    result = padded.copy()
    slices = _slices(brain)
    with torch.no_grad():
        for start in range(0, len(slices), 8):
            chunk = slices[start : start + 8]
            stack = np.stack([padded[..., z - 1 : z + 2].transpose(2, 0, 1) for z in chunk])
            out = network(torch.from_numpy(stack).to(device))[:, 0].cpu().numpy()
            for z, plane in zip(chunk, out, strict=True):
                result[..., z] = np.where(brain[..., z], plane, padded[..., z])
    nx, ny, nz = data.shape
    result = result[:nx, :ny, 1 : nz + 1]
    result = np.where(mask, standardize(result, landmarks(result[mask]), target), standard)
    return np.clip(result * record["reference_scale"], 0, None).astype(np.float32)
