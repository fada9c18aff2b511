"""Fusion: observations from hands, speech, wrist and context -> intent events (see docs/fusion.md)."""
