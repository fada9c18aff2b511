import math

import pytest

from fusion.context import ContextOptions, ContextTracker
from fusion.rays import cast_ray_2d, cast_ray_3d, hit_point_2d
from perception.context import Scene, SceneError, Target
from perception.stream.types import Observation

MS = 1_000_000


def scene():
    return Scene(
        [
            Target("cup", "cup", (100, 100, 200, 200)),
            Target("shelf", "shelf", (500, 100, 700, 300)),
            Target("near", "near", (100, 300, 200, 350)),
            Target("ball", "ball", position=(0.0, 0.0, 2.0), radius=0.1),
            Target("box", "box", position=(1.0, 0.0, 2.0), radius=0.2),
            Target("hud", "hud", (10, 10, 50, 50), plane="screen"),
        ]
    )


def test_ray_2d_hits_first_box_along_the_finger_and_tolerates_small_misses():
    ts = scene().targets()
    assert cast_ray_2d([150, 400], [0, -1], ts).target.id == "near"  # occludes the cup behind it
    assert cast_ray_2d([150, 250], [0, -1], ts).target.id == "cup"
    # 5 degrees off to the right of the cup's corner: still the cup; 40 degrees: nothing
    a = math.radians(5)
    hit = cast_ray_2d([90, 250], [math.sin(a) * -1 + 0, -math.cos(a)], ts)
    assert hit is not None and hit.target.id == "cup" and 0 < hit.angle_deg < 12
    assert cast_ray_2d([150, 250], [-1, 0.2], ts) is None  # pointing away from everything
    assert cast_ray_2d([150, 250], [0, 0], ts) is None  # no direction
    assert cast_ray_2d([20, 20], [-1, 0], ts) is None  # the HUD is on the screen plane, not the image


def test_ray_3d_picks_the_sphere_in_the_cone():
    ts = scene().targets()
    assert cast_ray_3d([0, 0, 0], [0, 0, 1], ts).target.id == "ball"
    hit = cast_ray_3d([0, 0, 0], [1.0, 0, 2.0], ts)
    assert hit.target.id == "box" and hit.angle_deg == 0
    assert cast_ray_3d([0, 0, 0], [0, 0, -1], ts) is None


def test_gaze_point_on_screen_plane():
    ts = scene().targets()
    assert hit_point_2d([30, 30], ts, "screen").target.id == "hud"
    assert hit_point_2d([60, 30], ts, "screen", margin_px=24).target.id == "hud"
    assert hit_point_2d([200, 200], ts, "screen") is None


def test_scene_messages_and_errors():
    s = Scene()
    seen = []
    s.on_change(lambda sc: seen.append(sc.version))
    s.apply({"op": "upsert", "target": {"id": "a", "label": "apple", "box": [0, 0, 1, 1]}})
    s.apply({"op": "replace", "targets": [{"id": "b", "position": [0, 0, 1]}]})
    assert [t.id for t in s.targets()] == ["b"] and seen == [1, 2]
    s.apply({"op": "remove", "id": "b"})
    assert len(s) == 0
    with pytest.raises(SceneError, match="needs a box or a position"):
        s.apply({"op": "upsert", "target": {"id": "c"}})
    with pytest.raises(SceneError, match="x1 < x0"):
        Target.from_json({"id": "c", "box": [5, 0, 1, 1]})
    with pytest.raises(SceneError, match="unknown scene op"):
        s.apply({"op": "explode"})
    with pytest.raises(SceneError, match="duplicate target id"):
        Scene.from_json({"targets": [{"id": "a", "box": [0, 0, 1, 1]}, {"id": "a", "box": [0, 0, 1, 1]}]})
    rt = Scene.from_json(scene().to_json())
    assert {t.id for t in rt.targets()} == {t.id for t in scene().targets()}


def _gaze(t0, t1, pt):
    return Observation("gaze", "point", 1.0, t0 * MS, t1 * MS, {"point": pt, "plane": "screen"})


def test_tracker_history_answers_what_was_pointed_at_when():
    tr = ContextTracker(scene())
    a = Observation("hand", "point_hold", 0.9, 1000 * MS, 1400 * MS, {"index_tip": [150, 250], "index_dir": [0, -1]})
    b = Observation("hand", "point_hold", 0.9, 2000 * MS, 2400 * MS, {"index_tip": [600, 400], "index_dir": [0, -1]})
    tr.observe(a)
    tr.observe(b)
    assert tr.at("pointing", 900 * MS, 1100 * MS).target_id == "cup"
    assert tr.at("pointing", 2300 * MS, 2600 * MS).target_id == "shelf"
    # a window touching both: the one closest to the reference time
    assert tr.at("pointing", 1000 * MS, 2400 * MS, ref_ns=2100 * MS).target_id == "shelf"
    assert tr.at("pointing", 1000 * MS, 2400 * MS, ref_ns=2100 * MS, exclude={b.id}).target_id == "cup"
    assert tr.at("pointing", 3000 * MS, 4000 * MS) is None
    tr.mark_selected("cup", 5000 * MS)
    tr.mark_mentioned("shelf", 4000 * MS)
    assert tr.last() == "cup" and tr.last(before_ns=4500 * MS) == "shelf"


def test_tracker_dwell_emits_once_per_threshold_and_breaks_on_gaps():
    tr = ContextTracker(scene(), ContextOptions(dwell_ms=(300,)))
    out = []
    for t in range(0, 500, 50):
        out += tr.observe(_gaze(t, t + 50, [30, 30]))
    assert len(out) == 1 and out[0].kind == "dwell" and out[0].payload["target"] == "hud"
    assert out[0].t_end_ns - out[0].t_start_ns == 300 * MS
    tr2 = ContextTracker(scene(), ContextOptions(dwell_ms=(300,)))
    got = []
    for t in (0, 100, 200, 500, 600):  # a 200 ms gap breaks the dwell
        got += tr2.observe(_gaze(t, t + 50, [30, 30]))
    assert got == []


def test_udp_feed_applies_scene_and_emits_gaze_over_loopback():
    import json
    import socket
    import threading
    import time

    from perception.context.feed import ContextUdpSource

    sc = Scene()
    src = ContextUdpSource(sc)
    addr = src.address
    got = []
    stop = threading.Event()
    th = threading.Thread(target=src.run, args=(got.append, stop), daemon=True)
    th.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    msgs = [
        {"type": "scene", "op": "upsert", "target": {"id": "cup", "label": "cup", "position": [0, 0, 2]}},
        {"type": "gaze", "origin": [0, 0, 0], "direction": [0, 0, 1], "t_ns": 5_000_000_000},
        "not json",
        {"type": "gaze", "origin": [0, 0], "direction": [1, 0, 0]},
        {"type": "scene", "op": "upsert", "target": {"id": "x"}},
    ]
    for m in msgs:
        tx.sendto((m if isinstance(m, str) else json.dumps(m)).encode(), addr)
    tx.sendto(b'{"type": "gaze", "point": [5, 5]}\n{"type": "bogus"}', addr)
    deadline = time.monotonic() + 3
    while (src.received < 7) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    th.join(2)
    tx.close()
    assert src.received == 7 and src.malformed == 4
    assert sc.get("cup") is not None
    kinds = [(o.modality, o.kind) for o in got]
    assert kinds == [("context", "scene"), ("gaze", "ray"), ("gaze", "point")]
    assert got[1].t_end_ns == 5_000_000_000
    # the gaze ray designates the cup
    tr = ContextTracker(sc)
    tr.observe(got[1])
    assert tr.at("gaze", 4_900_000_000, 5_000_000_000).target_id == "cup"


def test_gaze_with_a_target_id_from_the_glasses_is_taken_as_is():
    tr = ContextTracker(scene())
    # the ray itself points nowhere near the cup; the glasses say they were looking at it
    tr.observe(
        Observation("gaze", "ray", 1.0, 0, 10 * MS, {"origin": [0, 0, 0], "direction": [0, 0, -1], "target_id": "cup"})
    )
    tr.observe(
        Observation(
            "gaze", "ray", 1.0, 20 * MS, 30 * MS, {"origin": [0, 0, 0], "direction": [0, 0, -1], "target_id": "unknown"}
        )
    )
    assert tr.at("gaze", 0, 10 * MS).target_id == "cup"
    assert tr.at("gaze", 20 * MS, 30 * MS) is None


def _finger_skeleton(direction, bend_deg=0.0):
    """21 world joints: knuckle at 0.3 m ahead, the index straight along `direction` (or bent at the PIP)."""
    import numpy as np

    d = np.asarray(direction, float) / np.linalg.norm(direction)
    up = np.cross(d, [1.0, 0, 0]) if abs(d[0]) < 0.9 else np.cross(d, [0, 1.0, 0])
    up /= np.linalg.norm(up)
    j = np.tile(np.array([0.0, 0.0, 0.3]) - 0.05 * d, (21, 1)) + 0.001 * np.arange(21)[:, None]
    k = np.array([0.0, 0.0, 0.3])
    j[5], j[6] = k, k + 0.04 * d
    b = math.radians(bend_deg)
    d2 = math.cos(b) * d + math.sin(b) * up
    j[7], j[8] = j[6] + 0.025 * d2, j[6] + 0.045 * d2
    return j


def test_pointing_ray_from_a_world_skeleton_hits_the_3d_target_it_aims_at():
    from fusion.rays import pointing_ray_3d

    ball = Target("ball", "ball", position=(0.5, 0.0, 3.0), radius=0.2)
    box = Target("box", "box", position=(-1.0, 0.0, 2.0), radius=0.2)
    origin, d = pointing_ray_3d(_finger_skeleton([0.5, 0.0, 2.7]))
    assert math.isclose(float((d**2).sum()), 1.0) and origin[2] > 0.3  # at the fingertip, unit length
    assert cast_ray_3d(origin, d, [ball, box]).target.id == "ball"
    origin, d = pointing_ray_3d(_finger_skeleton([-1.0, 0.0, 1.7]))
    assert cast_ray_3d(origin, d, [ball, box]).target.id == "box"
    assert pointing_ray_3d(_finger_skeleton([0, 0, 1], bend_deg=70)) is None  # a curled finger does not point
    bad = _finger_skeleton([0, 0, 1])
    bad[8, 0] = float("nan")
    assert pointing_ray_3d(bad) is None and pointing_ray_3d([[0, 0, 0]] * 5) is None


def test_tracker_casts_world_skeleton_pointing_against_3d_targets():
    sc = Scene([Target("ball", "ball", position=(0.5, 0.0, 3.0), radius=0.2)])
    tr = ContextTracker(sc)
    joints = _finger_skeleton([0.5, 0.0, 2.7]).tolist()
    tr.observe(Observation("hand", "point_hold", 0.9, 0, 400_000_000, {"joints_world": joints}))
    assert tr.at("pointing", 0, 400_000_000).target_id == "ball"
    tr.observe(Observation("hand", "point_hold", 0.9, 500_000_000, 900_000_000, {"joints_world": "junk"}))
    assert tr.at("pointing", 500_000_000, 900_000_000, want_target=False) is None  # malformed: nothing recorded
