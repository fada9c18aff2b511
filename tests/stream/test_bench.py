"""`cuekit bench pipeline --json` prints exactly one JSON object with the ratios."""

from __future__ import annotations

import json

from perception.stream import bench


def test_bench_pipeline_prints_one_json_object(capsys):
    assert bench.main(["--items", "300", "--work", "1", "--repeat", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for case in ("overhead", "with_work", "fan_in_idle"):
        r = res[case]
        assert r["pipeline_items_per_s"] > 0 and r["loop_items_per_s"] > 0
        ratio = r["pipeline_items_per_s"] / r["loop_items_per_s"]
        assert abs(r["ratio_pipeline_vs_loop"] - ratio) <= 1e-3 * max(1.0, ratio)
