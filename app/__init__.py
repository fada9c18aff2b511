"""CueKit's applications: the CLI, the GUI demo, the daemon, the plugin registry, record/replay."""
