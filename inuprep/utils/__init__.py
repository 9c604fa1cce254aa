"""Core helpers shared by every layer: BIDS names and inputs, atomic writes."""
