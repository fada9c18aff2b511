"""A simulated AR-glasses prototype for CueKit (example plugin package)."""
