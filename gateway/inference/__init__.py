"""Local analysis of audio and vibration windows: features, the TFLite audio model, the worker."""
