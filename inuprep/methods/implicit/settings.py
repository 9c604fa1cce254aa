"""The implicit method's settings and the record of its shipped weights (torch-free)."""

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.resources import files

#: the network's input grid (pixels a side); it returns the log-field on a 16 x 16 grid
INPUT_SIZE = 64
WEIGHTS, RECORD = "getnet.pt", "getnet.json"


@dataclass(frozen=True)
class ImplicitSettings:
    """Parameters of the slice-wise application (none was tuned on brain images)."""

    field_smoothing_mm: float = 12.0  # Gaussian sigma of the combined 3D log-field (the 2D fields' 16-grid)
    min_slice_fraction: float = 0.1  # slices with less foreground than this share of the fullest are skipped
    margin: float = 0.05  # the cube's padding around the foreground, a fraction of its largest extent

    def resolved(self, zooms: tuple[float, ...]) -> "ImplicitSettings":
        """Return these settings (nothing depends on the voxel size)."""
        return self

    def to_dict(self) -> dict:
        """Return the settings and the weights' checksum as JSON-ready metadata."""
        return {**asdict(self), "weights_sha256": weights_record()["sha256"]}

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        record = weights_record()
        return (
            f"Implicitly trained bias correction [@implicit] was run with inuprep: a 2D residual CNN "
            f"({record['parameters']:,} parameters) trained with the implicit loss on procedural dead-leaves "
            f"images and {len(record['photos'])} non-medical photographs only (seed {record['seed']}) "
            f"predicted a log-field for every slice of the image's foreground resampled to a "
            f"{INPUT_SIZE}^3 grid in each of the three orientations; the three were made to agree, averaged, "
            f"smoothed (Gaussian, sigma {self.field_smoothing_mm:g} mm) and resampled to the image."
        )


@lru_cache(maxsize=1)
def weights_record() -> dict:
    """Return the record written beside the shipped weights by the training script."""
    return json.loads(files(__package__).joinpath(RECORD).read_text())
