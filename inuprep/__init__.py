"""inuprep: zero-shot MRI bias-field correction, benchmarked against N4, as a BIDS App."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inuprep")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
