"""Sinks that hand intents (and optionally observations) to the outside: JSON lines, OSC."""
