"""Fuzzing of every parser that reads outside input: `cuekit fuzz TARGET --seconds N` (see cli.py)."""
