"""The implicitly trained bias-field network (Simko et al.): a 2D GetNet trained on non-medical images."""

#: the network's input grid (pixels a side); it returns the log-field on a 16 x 16 grid
INPUT_SIZE = 64
