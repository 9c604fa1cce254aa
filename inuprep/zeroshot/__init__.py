"""The zero-shot bias-correction method (Yang, Timko, Fernandez): torch only, no nipype, no BIDS."""
