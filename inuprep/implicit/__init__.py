"""The implicitly trained bias-field network (Simko et al.): a 2D GetNet trained on non-medical images."""

#: the network's input grid (pixels a side) and the grid of the log-field it returns
INPUT_SIZE, FIELD_SIZE = 64, 16
