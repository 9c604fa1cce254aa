"""WhiteStripe: each image scaled by its normal-appearing white matter onto the references' white matter."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.whitestripe.settings import WhiteStripeSettings

HARMONIZER = Harmonizer(
    name="whitestripe",
    label="WhiteStripe",
    settings=WhiteStripeSettings,
    citation=(
        "whitestripe",
        "Shinohara RT, et al. Statistical normalization techniques for magnetic resonance imaging. "
        "NeuroImage: Clinical 6:9-19, 2014.",
    ),
    code="inuprep.harmonizers.whitestripe.harmonize",
    uses_wm=True,
)
