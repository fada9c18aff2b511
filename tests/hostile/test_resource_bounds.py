"""Each bomb of issue #18 stays under a stated memory ceiling and time, measured in a fresh process.

Ceilings: peak RSS under the baseline import (~100-200 MB) + 150 MB, and 20 s. Before the fixes the
JPEG bomb reached 1.6 GB, the grammar bomb 5.2 GB (and hung), the 32 KB MCAP bomb 2.2 GB."""

from __future__ import annotations

from hostile_helpers import run_bounded

EXTRA_MB = 150
SECONDS = 20


def _within(r: dict, baseline: float) -> None:
    assert r["rss_mb"] < baseline + EXTRA_MB, r
    assert r["seconds"] < SECONDS, r


def test_jpeg_bomb_is_refused_before_decoding(baseline_rss_mb):
    r = run_bounded("""
        from bombs import jpeg_claiming
        from app.daemon import ingest, protocol
        from app.client import encoders
        ev = protocol.decode(encoders.video_frame(jpeg_claiming(), t_ns=5))
        ingest.to_item(ingest.Pushed(ev, 5, 0, "s", "c"))
    """)
    assert r["outcome"].startswith("ProtocolError") and "16000x16000" in r["outcome"], r
    _within(r, baseline_rss_mb)


def test_jpeg_bomb_in_a_recording_is_refused(baseline_rss_mb):
    r = run_bounded("""
        from bombs import jpeg_claiming
        from app.recording.schemas import decode_jpeg
        decode_jpeg(jpeg_claiming())
    """)
    assert "16000x16000" in r["outcome"], r
    _within(r, baseline_rss_mb)


def test_grammar_bomb_spec_is_refused_at_load(baseline_rss_mb):
    r = run_bounded("""
        from bombs import grammar_bomb_spec
        from fusion.spec import loads_spec, speech_grammar
        from perception.speech.context import Context
        from perception.speech.grammar import compile_grammar
        # the demo's path from a spec to the recogniser's grammar (app.demo._speech_stage)
        compile_grammar(Context.from_spec(speech_grammar(loads_spec(grammar_bomb_spec(), "bomb.toml"))))
    """)
    assert r["outcome"].startswith("SpecError") and "bomb.toml:2" in r["outcome"], r
    assert "phrasings" in r["outcome"]
    _within(r, baseline_rss_mb)


def test_mcap_zstd_bomb_is_refused_per_chunk(baseline_rss_mb, tmp_path):
    path = tmp_path / "bomb.mcap"
    r = run_bounded(f"""
        from bombs import mcap_zstd_bomb
        from pathlib import Path
        Path({str(path)!r}).write_bytes(mcap_zstd_bomb(1 << 30, 1 << 30))
        from app.recording.mcap_reader import read_items
        print(Path({str(path)!r}).stat().st_size, file=sys.stderr)
        list(read_items({str(path)!r}))
    """)
    assert path.stat().st_size < 64 * 1024  # a 1 GB claim in a few tens of KB
    assert r["outcome"].startswith("McapDamagedError") and "decompressed" in r["outcome"], r
    _within(r, baseline_rss_mb)


def test_mcap_chunk_that_lies_about_its_size_is_capped(baseline_rss_mb, tmp_path):
    path = tmp_path / "liar.mcap"
    r = run_bounded(f"""
        from bombs import mcap_zstd_bomb
        from pathlib import Path
        Path({str(path)!r}).write_bytes(mcap_zstd_bomb(1000, 256 << 20))
        from app.recording.mcap_reader import read_items
        list(read_items({str(path)!r}))
    """)
    assert r["outcome"].startswith("McapDamagedError"), r
    _within(r, baseline_rss_mb)
