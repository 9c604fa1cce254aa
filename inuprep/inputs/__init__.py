"""The inputs: what an image to correct is (:mod:`.images`) and how pybids finds them (:mod:`.discovery`)."""
