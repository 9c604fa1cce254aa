"""The implicitly trained bias-field network (Simko et al.): a 2D GetNet trained on non-medical images."""
