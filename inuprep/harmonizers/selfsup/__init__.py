"""Self-supervised: a network that learned, from the references alone, to undo acquisition changes."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.selfsup.settings import SelfSupSettings
from inuprep.utils.references import Reference

HARMONIZER = Harmonizer(
    name="selfsup",
    label="Self-supervised U-Net",
    settings=SelfSupSettings,
    citation=Reference(
        key="selfsup",
        authors=("Jeong, Hwihun", "Byun, Heejoon", "Kang, Dong Un", "Lee, Jongho"),
        title="BlindHarmony: 'blind' harmonization for MR images via flow model",
        venue="Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)",
        year=2023,
        kind="inproceedings",
        pages="21129-21139",
        note="blind: trained on the target domain only; the training here is a self-supervised mapping of "
        "synthetic alterations back to the references instead of a flow",
    ),
    code="inuprep.harmonizers.selfsup.harmonize",
    voxel_grid=True,
)
