"""`glasses-sim`: stream the simulated glasses to a running CueKit daemon over the protocol, and
print the intents and observations that come back (JSON lines on stdout)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from app.client import AsyncClient
from glasses_sim.sim import TARGETS, GlassesSim, SimOptions


@dataclass(slots=True)
class StreamResult:
    sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    observations: list[dict] = field(default_factory=list)
    intents: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


async def stream(url: str, seconds: float, token: str | None = None, seed: int = 0, subscribe: bool = True,
                 echo: bool = False) -> StreamResult:
    """Push IMU (200 Hz in batches of 10), audio (20 ms chunks), scene targets and gaze (30 Hz) for
    `seconds` in real time, stamped with this host's monotonic clock."""
    sim = GlassesSim(SimOptions(seed=seed))
    res = StreamResult()
    sent = {"imu-batch": 0, "audio-chunk": 0, "scene-targets": 0, "gaze-ray": 0}

    def on_event(ev) -> None:
        res.received[ev.type] = res.received.get(ev.type, 0) + 1
        if ev.type == "observation":
            res.observations.append(ev.data)
        elif ev.type == "intent":
            res.intents.append(ev.data)
        elif ev.type == "error":
            res.errors.append(ev.data)
        if echo and ev.type in ("intent", "observation", "error", "dropped"):
            print(json.dumps({"type": ev.type, **ev.data}), flush=True)

    async with AsyncClient(url, token=token, name="glasses-sim", clock="shared", stream_id="glasses") as c:
        c.on_event = on_event
        if subscribe:
            await c.subscribe(intents=True, observations=True)
        t0 = time.monotonic_ns()
        await c.send_scene_targets(TARGETS, t_ns=t0)
        sent["scene-targets"] += 1
        k = 0
        tick = 0.01  # 10 ms scheduler tick
        while k * tick < seconds:
            t_s = k * tick
            now = t0 + int(t_s * 1e9)
            # like a device driver, send what was captured in the last period (never future samples)
            if k % 2 == 0 and k:  # 20 ms of audio
                await c.send_audio(sim.audio(t_s - 0.02, 320), 16000, t_ns=now - 20_000_000, seq=k // 2)
                sent["audio-chunk"] += 1
            if k % 5 == 0 and k:  # 10 IMU samples per 50 ms
                ts = t_s - 0.05 + np.arange(10) / 200.0
                accel, gyro = sim.imu(ts)
                await c.send_imu(t0 + (ts * 1e9).astype(np.int64), accel, gyro, seq=k // 5)
                sent["imu-batch"] += 1
            if k % 3 == 0:  # ~33 Hz gaze
                origin, direction, target = sim.gaze(t_s)
                await c.send_gaze(origin, direction, t_ns=now, target_id=target)
                sent["gaze-ray"] += 1
            k += 1
            delay = (t0 + int(k * tick * 1e9) - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
        await c.ping()  # everything sent before the ping has been read by the daemon
        await asyncio.sleep(0.3)  # let the last observations come back
    res.sent = sent
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="glasses-sim", description=__doc__)
    p.add_argument("--url", default="ws://127.0.0.1:8765/")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--token", help="access token (prefer CUEKIT_TOKEN in the environment)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    import os
    token = args.token or os.environ.get("CUEKIT_TOKEN")
    res = asyncio.run(stream(args.url, args.seconds, token, args.seed, echo=True))
    print(json.dumps({"sent": res.sent, "received": res.received}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
