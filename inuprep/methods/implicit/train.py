"""Train GetNet on non-medical images with Simko's implicit loss; write the weights and how they were made.

    python -m inuprep.methods.implicit.train --out inuprep/methods/implicit --seed 0 [--steps 8000] \
        [--threads 2]

Each step draws a batch of images v (procedural dead leaves and crops of the photographs packages ship,
random crops, flips and masks), each times a random gain field of its own, and a second random gain field k
(max/min up to 1.3, Simko's 30 %, for half of them and up to 3 for the rest). The implicit loss (Simko et
al., MIDL 2022) asks that the network's log-fields of v*k and of v differ by log k, inside the mask: the
network never needs to know v's own gain. That loss alone is also met by any "local mean" of the log-image,
which absorbs anatomy, so the procedural images, which are generated gain-free and so have a known field,
add the same L1 distance between the network's field of v and v's own field (``--anchor-weight``; 0 gives
the implicit loss alone). Printed every 250 steps: the training loss and, on a held-out procedural set, the
field error against two baselines (no correction; a Gaussian local mean of the log-image).
"""

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch

from inuprep.methods.implicit import data
from inuprep.methods.implicit.network import GetNet, log_field, masked_mean
from inuprep.methods.implicit.settings import INPUT_SIZE

POOL_SIZE = 80  # pool images are cropped to the network's 64 at each step


class Batches:
    """Draws training batches from pools of dead-leaves label maps and photo crops made once from ``seed``."""

    def __init__(self, seed: int, leaves: int = 4000, photos: int = 2000, photo_fraction: float = 0.25):
        self.gen = torch.Generator().manual_seed(seed)
        self.labels = data.dead_leaves(leaves, POOL_SIZE, self.gen).to(torch.uint8)
        self.photos = 0.05 + 0.95 * data.photo_crops(photos, POOL_SIZE, self.gen)
        self.photo_fraction = photo_fraction

    def draw(self, size: int) -> dict[str, torch.Tensor]:
        """Return a batch: log v, log(v*k) (each with its own noise), log k, v's own log-field, the mask
        and which rows are procedural (a known own field)."""
        gen, n_photo = self.gen, round(size * self.photo_fraction)
        pick = torch.randint(0, len(self.labels), (size - n_photo,), generator=gen)
        images = torch.cat([
            data.colour(self.labels[pick].long(), gen),
            self.photos[torch.randint(0, len(self.photos), (n_photo,), generator=gen)],
        ])  # fmt: skip
        images = augment(images, gen)
        mask = data.random_masks(size, INPUT_SIZE, gen)
        own, k = (data.random_log_fields(size, INPUT_SIZE, gen, mask) for _ in range(2))
        v = images * own.exp()
        sigma = 0.03 * torch.rand(size, 1, 1, 1, generator=gen) * masked_mean(v, mask)
        noisy = [
            (x + sigma * torch.randn(x.shape, generator=gen)).abs().clamp(min=1e-3) for x in (v, v * k.exp())
        ]
        known = torch.arange(size) < size - n_photo
        return {"log_v": noisy[0].log(), "log_vk": noisy[1].log(), "log_k": k, "own": own, "mask": mask,
                "known": known}  # fmt: skip


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Return a random 64-pixel crop of each image, flipped and transposed at random."""
    out = torch.empty(len(images), 1, INPUT_SIZE, INPUT_SIZE)
    offsets = torch.randint(0, POOL_SIZE - INPUT_SIZE + 1, (len(images), 2), generator=gen)
    flips = torch.rand(len(images), 3, generator=gen) < 0.5
    for n, ((y, x), (fy, fx, tr)) in enumerate(zip(offsets.tolist(), flips.tolist(), strict=True)):
        crop = images[n, 0, y : y + INPUT_SIZE, x : x + INPUT_SIZE]
        crop = crop.flip(0) if fy else crop
        crop = crop.flip(1) if fx else crop
        out[n, 0] = crop.T if tr else crop
    return out


def losses(net: GetNet, batch: dict, anchor_weight: float) -> tuple[torch.Tensor, dict]:
    """Return the training loss and its parts: implicit (|G(vk) - G(v) - log k|) and anchor (|G(v) - own|)."""
    mask = batch["mask"]
    field_v = log_field(net, batch["log_v"], mask)
    field_vk = log_field(net, batch["log_vk"], mask)
    implicit = l1(field_vk - field_v - batch["log_k"], mask)
    known = batch["known"]
    anchor = l1(field_v[known] - batch["own"][known], mask[known]) if known.any() else implicit * 0
    return implicit + anchor_weight * anchor, {"implicit": implicit.item(), "anchor": anchor.item()}


def l1(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the mean absolute value of ``x`` inside the masks."""
    return (x.abs() * mask).sum() / mask.sum()


@torch.no_grad()
def validate(net: GetNet, batch: dict) -> dict[str, float]:
    """Return the error of the network's field of v against v's own field (procedural rows), and the same
    for no correction and for a local mean of the log-image (Gaussian, sigma 8 pixels, inside the mask)."""
    known, mask = batch["known"], batch["mask"][batch["known"]]
    log_v, own = batch["log_v"][known], batch["own"][known]
    local = data.blur(log_v * mask, 8.0) / data.blur(mask, 8.0).clamp(min=1e-3)
    local = local - masked_mean(local, mask)
    return {
        "network": float(l1(log_field(net, log_v, mask) - own, mask)),
        "none": float(l1(own, mask)),
        "local_mean": float(l1(local - own, mask)),
    }


def train(seed: int, steps: int, batch_size: int = 64, learning_rate: float = 2e-3,
          anchor_weight: float = 1.0, pools: tuple[int, int] = (4000, 2000), log=print
          ) -> tuple[GetNet, list[dict]]:  # fmt: skip
    """Return the trained network and the log (one dict per report) of ``steps`` Adam steps from ``seed``."""
    torch.manual_seed(seed)
    net = GetNet()
    batches = Batches(seed, *pools)
    held_out = Batches(seed + 10_000, leaves=256, photos=1).draw(256)
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    history, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        loss, parts = losses(net, batches.draw(batch_size), anchor_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 250 == 0 or step in (1, steps):
            entry = {
                "step": step,
                "loss": loss.item(),
                **parts,
                "seconds": round(time.perf_counter() - start),
            }
            entry["held_out"] = validate(net, held_out)
            history.append(entry)
            log(json.dumps(entry))
    return net, history


def main(argv: list[str] | None = None) -> int:
    """Train and write ``getnet.pt`` and ``getnet.json`` (checksum, command, seed, data, log) into --out."""
    parser = argparse.ArgumentParser(
        prog="python -m inuprep.methods.implicit.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for getnet.pt and getnet.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--anchor-weight", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    net, history = train(args.seed, args.steps, args.batch_size, args.learning_rate, args.anchor_weight,
                         log=lambda line: print(line, flush=True))  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "getnet.pt"
    torch.save(net.state_dict(), weights)
    record = {
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "command": "python -m inuprep.methods.implicit.train "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "parameters": sum(p.numel() for p in net.parameters()),
        "torch": torch.__version__,
        "threads": args.threads,
        "train_minutes": round((time.perf_counter() - start) / 60, 1),
        "photos": [f"{path.parent.parent.name}/{path.name}" for path in data.photo_paths()],
        "history": history,
    }
    (args.out / "getnet.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
