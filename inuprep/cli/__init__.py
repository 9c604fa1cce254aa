"""The command lines: the BIDS App (parser, settings, discovery, run, group, demo) and inuprep-correct."""
