"""`cuekit bench kernels` runs end to end and prints one JSON object (timings are not asserted:
speed goals live in the benchmark output, not in tests)."""

from __future__ import annotations

import json

from native.bench import main


def test_bench_kernels_json(capsys, tmp_path):
    png = tmp_path / "bench.png"
    assert main(["--json", "--quick", "--only", "detection", "--only", "imu", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in out["rows"]]
    assert any("NMS" in n for n in names) and any("Madgwick" in n for n in names)
    for r in out["rows"]:
        assert r["kernel_us"] > 0 and r["baseline_us"] > 0
        assert abs(r["ratio"] - r["baseline_us"] / r["kernel_us"]) < 0.05 * r["ratio"] + 0.01
    assert png.stat().st_size > 1000
