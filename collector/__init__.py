"""phi-replay collector: ingest, encrypted storage and the operator's command line."""

__version__ = "0.1.0"
