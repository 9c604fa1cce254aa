"""WhiteStripe: each image scaled by its normal-appearing white matter onto the references' white matter."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.whitestripe.settings import WhiteStripeSettings
from inuprep.utils.references import Reference

HARMONIZER = Harmonizer(
    name="whitestripe",
    label="WhiteStripe",
    settings=WhiteStripeSettings,
    citation=Reference(
        key="whitestripe",
        authors=(
            "Shinohara, Russell T.",
            "Sweeney, Elizabeth M.",
            "Goldsmith, Jeff",
            "Shiee, Navid",
            "others",
        ),
        title="Statistical normalization techniques for magnetic resonance imaging",
        venue="NeuroImage: Clinical",
        year=2014,
        volume="6",
        pages="9-19",
        doi="10.1016/j.nicl.2014.08.008",
    ),
    code="inuprep.harmonizers.whitestripe.harmonize",
    tissues=("WM",),
)
