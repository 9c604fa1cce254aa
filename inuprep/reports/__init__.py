"""Figures and HTML pages: the group summary and the per-subject reports."""
