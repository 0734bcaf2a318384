"""The detention model (SimPy) and its fast paths."""
