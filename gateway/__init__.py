"""sensor-gateway: edge gateway for refrigeration compressor monitoring."""

__version__ = "0.1.0"
