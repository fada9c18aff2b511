"""Sensor sources and per-modality recognisers: everything between a device and an Observation."""
