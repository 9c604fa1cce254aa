"""The BIDS App: command line, settings, input discovery, derivatives."""
