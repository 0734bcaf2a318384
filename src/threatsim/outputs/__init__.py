"""What a run is compared with and shown as: observations, scores, plots."""
