"""Recording sessions to MCAP and replaying them: schemas.py (channels and codecs), mcap_writer.py
(McapWriter, the McapRecorder sink), mcap_reader.py (read_items, McapReplaySource), cli.py
(`cuekit record`) and replay_cli.py (`cuekit replay`)."""
