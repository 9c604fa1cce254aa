"""Self-supervised: a network that learned, from the references alone, to undo acquisition changes."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.selfsup.settings import SelfSupSettings

HARMONIZER = Harmonizer(
    name="selfsup",
    label="Self-supervised U-Net",
    settings=SelfSupSettings,
    citation=(
        "selfsup",
        "Jeong H, Byun H, Kang DU, Lee J. BlindHarmony: 'blind' harmonization for MR images via flow model. "
        "ICCV 2023:21129-21139 (blind: trained on the target domain only; the training here is a "
        "self-supervised mapping of synthetic alterations back to the references instead of a flow).",
    ),
    code="inuprep.harmonizers.selfsup.harmonize",
    voxel_grid=True,
)
