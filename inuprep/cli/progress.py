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

    ``images`` maps each image workflow's name to how the line names the image. A step nipype finds
    finished in the work folder (a resumed run) ends without a start: its line says it was reused. A line
    never fails a run: the callback runs inside nipype's scheduler, where an exception fails the node.
    """

    def __init__(self, images: dict[str, str], logger: logging.Logger):
        self.images, self.logger = images, logger
        self.started: dict[str, float] = {}

    def __call__(self, node, status: str) -> None:
        raise_if_terminated()  # a SIGTERM that a node's interface turned into a node failure stops the run
        try:
            self.report(node, status)
        except Exception as err:  # a progress line is never worth a participant
            self.logger.debug(f"progress line of {getattr(node, 'fullname', node)} not written: {err!r}")

    def report(self, node, status: str) -> None:
        """Log the line of ``node``'s ``status`` (start, end or exception), if it is a long step's."""
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
        began = self.started.get(node.fullname)
        if status != "end":
            took = f" after {now - began:.1f} s" if began is not None else ""
            self.logger.error(f"{label}: {what} FAILED{took}")
        elif began is None:
            self.logger.info(f"{label}: {what} reused (finished in an earlier run)")
        else:
            self.logger.info(f"{label}: {what} done in {now - began:.1f} s")
        if status == "end" and parts[-1] == "evaluate":
            image_began = self.started.get(image)
            took = f" in {now - image_began:.1f} s" if image_began is not None else " (reused)"
            self.logger.info(f"{label}: image done{took}")
