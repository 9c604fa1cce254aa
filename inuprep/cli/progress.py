"""Progress lines for the terminal and the log: each long step and each image, with its time."""

import logging
import time

from inuprep.methods import METHODS
from inuprep.runtime import raise_if_terminated

#: workflow nodes worth a line, and what to call them
STEPS = {
    "correct": "correction",
    "segment": "tissue masks",
    "evaluate": "evaluation",
    "harmonize": "harmonization",
}


class Progress:
    """A nipype ``status_callback``: a line when a long step ends or fails (started, with ``-v``).

    ``images`` maps each image workflow's name to how the line names the image.
    """

    def __init__(self, images: dict[str, str], logger: logging.Logger):
        self.images, self.logger = images, logger
        self.started: dict[str, float] = {}

    def __call__(self, node, status: str) -> None:
        raise_if_terminated()  # a SIGTERM that a node's interface turned into a node failure stops the run
        parts = node.fullname.split(".")
        image = next((part for part in parts if part in self.images), None)
        if image is None or parts[-1] not in STEPS:
            return
        label = self.images[image]
        what = STEPS[parts[-1]]
        if parts[-1] == "correct":
            method = METHODS.get(parts[-2].removesuffix("_wf"))
            what = f"{method.label if method else parts[-2]} {what}"
        now = time.monotonic()
        if status == "start":
            self.started.setdefault(image, now)
            self.started[node.fullname] = now
            self.logger.debug(f"{label}: {what} started")
            return
        took = now - self.started.get(node.fullname, now)
        if status == "end":
            self.logger.info(f"{label}: {what} done in {took:.1f} s")
            if parts[-1] == "evaluate":
                self.logger.info(f"{label}: image done in {now - self.started[image]:.1f} s")
        else:
            self.logger.error(f"{label}: {what} FAILED after {took:.1f} s")
