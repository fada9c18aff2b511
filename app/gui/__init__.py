"""The PySide6 desktop demo: live view of every stage of CueKit."""
