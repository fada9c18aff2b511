"""A user's path end to end: `cuekit enroll wrist` from recordings, then `cuekit serve` (the daemon, over its
real WebSocket on loopback, shipped default_ar spec) turns a live IMU stream into intents: the enrolled
gesture's, and `wake` from a real raise motion with an open palm."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np

from app.client import AsyncClient
from perception.sources.imu import write_imu_csv
from perception.stream import Observation
from perception.stream.types import ImuBatch
from perception.wrist.datasets import load_fbk
from perception.wrist.synthetic import Scene, SimEvent, render
from perception.wrist.units import G
from tests.daemon.conftest import RunningDaemon

REST_S = 1.5


def _at_100hz(t_ns: np.ndarray, accel_g: np.ndarray, rest_s: float = REST_S) -> tuple[np.ndarray, np.ndarray]:
    """A watch clip (FBK: ~9 Hz) as a live watch would stream it: 100 Hz, between rests."""
    tt = np.arange(int(t_ns[0]), int(t_ns[-1]), 10_000_000, dtype=np.int64)
    a = np.stack([np.interp(tt, t_ns, accel_g[:, c]) for c in range(3)], axis=1)
    n = int(rest_s * 100)
    rng = np.random.default_rng(0)
    a = np.concatenate([np.repeat(a[:1], n, 0), a, np.repeat(a[-1:], n, 0)]) + rng.normal(0, 0.004, (len(a) + 2 * n, 3))
    return np.arange(len(a), dtype=np.int64) * 10_000_000, a * G


async def _stream(c: AsyncClient, accel: np.ndarray, gyro: np.ndarray | None, source_id: str, step: int = 2) -> int:
    """Send in real time, `step` samples per message, stamped with this host's monotonic clock."""
    t0 = time.monotonic_ns()
    for i in range(0, len(accel), step):
        t = t0 + (np.arange(i, min(i + step, len(accel))) * 10_000_000).astype(np.int64)
        await asyncio.sleep(max(0.0, (int(t[-1]) - time.monotonic_ns()) / 1e9))
        await c.send_imu(t, accel[i : i + step], None if gyro is None else gyro[i : i + step], source_id=source_id)
    return t0


async def _intents(c: AsyncClient, seconds: float) -> list:
    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ev = await c.recv(left)
        if ev is None:
            break
        if ev.type == "intent":
            out.append(ev.data)

    return out


def test_enrolled_wrist_gesture_and_raise_reach_intents_through_the_daemon(
    shared, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("CUEKIT_DATA_DIR", str(tmp_path / "data"))
    from app.enrollment import main as enroll

    circles = [r for r in load_fbk([shared("data", "imu", "fbk_smartwatch")], ["U04"]) if r.label == "circle_cw"]
    paths = []
    for k, r in enumerate(circles[:3]):  # three recordings of the user's own gesture
        p = tmp_path / f"circle_{k}.csv"
        write_imu_csv(p, [ImuBatch(t_ns=r.t_ns - r.t_ns[0], accel=r.accel * G)])
        paths.append(str(p))
    # enrolled as the kind default_ar binds to volume_up: the user's own "turn it up" motion
    assert enroll(["wrist", "twist_cw", *paths, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["examples"] == 3 and done["store"].startswith(str(tmp_path / "data"))

    live = circles[5]
    _, circle_accel = _at_100hz(live.t_ns, live.accel)
    raise_imu = render(Scene(3.5, [SimEvent("raise", 1.0)], start_hanging=True, seed=5), 100.0)

    with RunningDaemon({"recognizers": [{"plugin": "wrist"}], "fusion": {"plugin": "fusion"}}) as d:

        async def main() -> tuple[list, list, dict]:
            c = AsyncClient(d.url, reconnect=False)
            await c.connect()
            await c.subscribe(intents=True)
            assert (await c.recv(2)).type == "subscribed"
            await _stream(c, circle_accel, None, "watch")
            first = await _intents(c, 1.0)
            # then a watch with a gyroscope (its own recogniser state) raised from hanging to the viewing
            # pose, with an open palm to the camera
            sender = asyncio.create_task(_stream(c, raise_imu.accel, raise_imu.gyro, "watch-gyro"))
            await asyncio.sleep(1.0 + raise_imu_motion_s())
            t = time.monotonic_ns()
            await c.send_observation(Observation("hand", "open_palm", 0.95, t - 60_000_000, t))
            await sender
            second = await _intents(c, 1.0)
            stats = d.daemon.graph()
            await c.close()
            return first, second, {n["name"]: n for n in stats}

        first, second, graph = asyncio.run(asyncio.wait_for(main(), 60))
    names = [i.get("intent") or i.get("name") for i in first]
    assert "volume_up" in names, first
    assert "wake" in [i.get("intent") or i.get("name") for i in second], second
    assert "wrist_gestures" in graph


def raise_imu_motion_s() -> float:
    """The raise (0.8 s) and the still hold the detector waits for (0.4 s)."""
    return SimEvent("raise", 0.0).duration_s + 0.4


def test_live_enrolment_over_udp_splits_the_take_at_rests(shared, tmp_path) -> None:
    """`cuekit enroll wrist NAME --udp PORT`: a watch streams two repetitions with rests over UDP on
    loopback, in real time (the source maps device time onto its clock); the take is cut into two examples
    and enrolled."""
    import socket
    import threading

    from app.enrollment import WristEnroller, live_take, split_at_rests

    circles = [r for r in load_fbk([shared("data", "imu", "fbk_smartwatch")], ["U04"]) if r.label == "circle_cw"]
    parts = [_at_100hz(r.t_ns, r.accel, rest_s=0.6)[1] for r in circles[:2]]
    accel = np.concatenate(parts)
    t_ms = np.arange(len(accel)) * 10.0
    lines = [f"{t:.1f},{a[0]:.4f},{a[1]:.4f},{a[2]:.4f}" for t, a in zip(t_ms, accel)]
    where: list = []
    ready = threading.Event()
    take: list[ImuBatch] = []
    seconds = len(lines) / 100.0 + 1.0
    th = threading.Thread(target=lambda: take.append(live_take(0, seconds, lambda a: (where.append(a), ready.set()))))
    th.start()
    assert ready.wait(10)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for i in range(0, len(lines), 5):  # 5 samples per datagram, at the watch's pace
        time.sleep(max(0.0, start + i / 100.0 - time.monotonic()))
        tx.sendto((("t_ms,ax,ay,az\n" if i == 0 else "") + "\n".join(lines[i : i + 5])).encode(), where[0])
    tx.close()
    th.join(15)
    assert take and len(take[0]) > 0.9 * len(lines)
    examples = split_at_rests(take[0])
    assert len(examples) == 2
    enr = WristEnroller(tmp_path / "store.json")
    enr.enroll("my_circle", examples)
    assert enr.gestures.n_examples == {"my_circle": 2}
