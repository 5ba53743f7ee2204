"""Inference: each stored window is queued (queue), claimed and analysed (worker: features,
the TFLite model, the verdict) and its result committed by one writer (result_writer)."""
