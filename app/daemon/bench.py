"""`cuekit bench daemon`: loopback load on a real `cuekit serve` process.

Three producers push the equivalent of a glasses prototype (30 fps 640x480 JPEG video, 16 kHz int16
audio in 20 ms chunks, 200 Hz IMU in batches of 10, plus the watch's own wrist-gesture observations
at 10 Hz, which fusion turns into intents); N subscribers take every intent. Reported: intent
delivery latency (fusion emit -> subscriber receive, one CLOCK_MONOTONIC across processes)
p50/p95/p99, whether any subscriber that kept up (was never told of a drop) lost an intent, and the
ratio to a baseline measured in the same run: the same observations through the same fusion stage
delivered in process (pipeline -> callback), i.e. what the network hop costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.client import AsyncClient

REPO = Path(__file__).resolve().parents[2]
GESTURES = ["flick_left", "flick_right", "flick_up", "twist_cw", "shake", "double_tap"]  # distinct intents


@dataclass(slots=True)
class Options:
    seconds: float = 60.0
    subscribers: int = 50
    video_fps: float = 30.0
    audio_rate: int = 16000
    imu_rate: int = 200
    gestures_hz: float = 10.0
    baseline_seconds: float | None = None  # default: min(10, seconds)
    config: Path | None = None  # daemon TOML (default: wrist + fusion)


@dataclass
class Result:
    seconds: float
    subscribers: int
    sent: dict[str, int] = field(default_factory=dict)
    sent_mb: float = 0.0
    intents_published: int = 0
    subscribers_keeping_up: int = 0
    lost_intents_keeping_up: int = 0
    dropped_reported: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    server_side_ms: dict[str, float] = field(default_factory=dict)  # emit -> written to the socket (daemon)
    end_to_end_ms: dict[str, float] = field(default_factory=dict)
    baseline_latency_ms: dict[str, float] = field(default_factory=dict)
    ratio_p50: float = 0.0
    ratio_p99: float = 0.0
    daemon: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict, repr=False)  # raw latencies, for the plot


def percentiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    a = np.asarray(xs)
    return {
        "n": int(a.size),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


# the daemon process ---------------------------------------------------------------------------------
DEFAULT_CONFIG = """
[server]
port = 0
queue_capacity = 1024
[[recognizers]]
plugin = "wrist"
[fusion]
plugin = "fusion"
[logging]
format = "json"
level = "WARNING"
"""


class DaemonProcess:
    """`cuekit serve` in a child process; reports its port, CPU time and RSS from /proc."""

    def __init__(self, config_text: str | None = None, config: Path | None = None, log_level: str = "INFO") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cuekit-bench-")
        if config is None:
            config = Path(self._tmp.name) / "daemon.toml"
            config.write_text((config_text or DEFAULT_CONFIG).replace('level = "WARNING"', f'level = "{log_level}"'))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CUEKIT_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--config", str(config), "--port", "0"],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.port = self._read_port()

    def _read_port(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"cuekit serve exited with {self.proc.returncode}")
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg", "").startswith("daemon listening"):
                # keep draining stderr so the child never blocks on a full pipe
                import threading

                threading.Thread(target=self._drain, daemon=True).start()
                return int(rec["port"])
        raise RuntimeError("cuekit serve did not report its port")

    def _drain(self) -> None:
        for _ in self.proc.stderr:
            pass

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def metrics(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return json.loads(r.read())

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()
        return self.proc.returncode


# producers and subscribers -------------------------------------------------------------------------
def _jpegs(n: int = 8) -> list[bytes]:
    import cv2

    rng = np.random.default_rng(0)
    out = []
    base = cv2.resize(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), (640, 480))
    for i in range(n):
        img = np.roll(base, i * 16, axis=1)
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    return out


async def _paced(period_s: float, until: float, fn) -> int:
    k = 0
    t0 = time.monotonic()
    while True:
        due = t0 + k * period_s
        if due >= until:
            return k
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await fn(k)
        k += 1


async def _producers(
    url: str, o: Options, until: float, sent: dict[str, int], sent_bytes: list[int], pushed_at: dict[int, int]
) -> None:
    jpegs = _jpegs()
    rng = np.random.default_rng(1)
    video = AsyncClient(url, name="bench-video")
    audio = AsyncClient(url, name="bench-audio")
    imu = AsyncClient(url, name="bench-imu")
    for c in (video, audio, imu):
        await c.connect()

    async def frame(k: int) -> None:
        jpg = jpegs[k % len(jpegs)]
        await video.send_frame(jpg, t_ns=time.monotonic_ns(), seq=k)
        sent["video-frame"] += 1
        sent_bytes[0] += len(jpg)

    chunk = o.audio_rate // 50

    async def pcm(k: int) -> None:
        x = (rng.normal(0, 300, chunk)).astype(np.int16)
        await audio.send_audio(x, o.audio_rate, t_ns=time.monotonic_ns() - 20_000_000, seq=k)
        sent["audio-chunk"] += 1
        sent_bytes[0] += 2 * chunk

    batch = 10
    imu_period = batch / o.imu_rate

    async def imu_batch(k: int) -> None:
        now = time.monotonic_ns()
        t = now - ((batch - 1 - np.arange(batch)) * (1e9 / o.imu_rate)).astype(np.int64)
        accel = rng.normal(0, 0.05, (batch, 3)) + [0, 0, 9.81]
        gyro = rng.normal(0, 0.01, (batch, 3))
        await imu.send_imu(t, accel, gyro, seq=k)
        sent["imu-batch"] += 1
        sent_bytes[0] += batch * 32

    async def gesture(k: int) -> None:
        from perception.stream import Observation

        now = time.monotonic_ns()
        await imu.send_observation(
            Observation("wrist", GESTURES[k % len(GESTURES)], 0.9, now - 60_000_000, now, {"bench_seq": k})
        )
        pushed_at[k] = now
        sent["observation"] += 1

    await asyncio.gather(
        _paced(1 / o.video_fps, until, frame),
        _paced(0.02, until, pcm),
        _paced(imu_period, until, imu_batch),
        _paced(1 / o.gestures_hz, until, gesture),
    )
    for c in (video, audio, imu):
        await c.ping()  # everything sent has been read by the daemon
        await c.close()


def _producer_process(url: str, o: Options, q: Any) -> None:
    sent = {"video-frame": 0, "audio-chunk": 0, "imu-batch": 0, "observation": 0}
    sent_bytes = [0]
    asyncio.run(_producers(url, o, time.monotonic() + o.seconds, sent, sent_bytes, {}))
    q.put({"sent": sent, "bytes": sent_bytes[0]})


async def _subscriber(url: str, stop: asyncio.Event, out: dict[str, Any]) -> None:
    c = AsyncClient(url, name="bench-sub", reconnect=False)
    await c.connect()
    await c.subscribe(intents=True)
    ids: list[str] = []
    lat: list[float] = []
    e2e: list[tuple[int, int]] = []
    while not (stop.is_set() and not c.pending):  # drain what has already arrived
        ev = await c.recv(0.2)
        if ev is None:
            continue
        if ev.type == "intent":
            now = time.monotonic_ns()
            ids.append(ev.data["id"])
            lat.append((now - ev.data["t_emitted_ns"]) / 1e6)
            e2e.append((now, ev.data["t_first_evidence_ns"]))
    out.update(ids=ids, lat=lat, e2e=e2e, dropped=c.server_dropped, reconnects=c.reconnects)
    await c.close()


async def _loopback(o: Options, d: DaemonProcess) -> Result:
    sent = {"video-frame": 0, "audio-chunk": 0, "imu-batch": 0, "observation": 0}
    sent_bytes = [0]
    stop = asyncio.Event()
    subs: list[dict[str, Any]] = [{} for _ in range(o.subscribers)]
    tasks = [asyncio.create_task(_subscriber(d.url, stop, s)) for s in subs]
    await asyncio.sleep(0.5 + o.subscribers * 0.01)  # all subscribed before load starts
    cpu0, t0 = d.cpu_seconds(), time.monotonic()
    rss0 = d.rss_mb()
    last_progress = t0
    # producers run in their own process so that the subscribers' receive loop measures the daemon,
    # not a client loop busy encoding video
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    prod = ctx.Process(target=_producer_process, args=(d.url, o, q), name="bench-producers")
    prod.start()
    while prod.is_alive():
        await asyncio.sleep(0.25)
        if time.monotonic() - last_progress >= 10:
            last_progress = time.monotonic()
            print(f"bench daemon: {last_progress - t0:.0f}/{o.seconds:.0f} s", file=sys.stderr)
    got = q.get(timeout=10)
    sent.update(got["sent"])
    sent_bytes[0] = got["bytes"]
    elapsed = time.monotonic() - t0
    cpu = d.cpu_seconds() - cpu0
    await asyncio.sleep(1.0)  # fusion's lateness window closes, the last intents go out
    m = d.metrics()
    published = m["intents"]["published"]
    stop.set()
    await asyncio.gather(*tasks)
    keeping_up = [s for s in subs if s["dropped"] == 0 and s["reconnects"] == 0]
    lost = sum(published - len(set(s["ids"])) for s in keeping_up)
    lat = [x for s in subs for x in s["lat"]]
    e2e = [(now - first) / 1e6 for s in subs for now, first in s["e2e"]]
    res = Result(
        seconds=round(elapsed, 2),
        subscribers=o.subscribers,
        sent=sent,
        sent_mb=round(sent_bytes[0] / 1e6, 2),
        intents_published=published,
        subscribers_keeping_up=len(keeping_up),
        lost_intents_keeping_up=lost,
        dropped_reported=sum(s["dropped"] for s in subs),
        latency_ms=percentiles(lat),
        end_to_end_ms=percentiles(e2e),
        samples={"daemon": lat},
        server_side_ms=m["intents"]["delivery_ms"],
    )
    res.daemon = {
        "cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        "rss_mb_start": round(rss0, 1),
        "rss_mb_end": round(d.rss_mb(), 1),
        "dropped_out": m["dropped"]["out"],
        "dropped_in": m["dropped"]["in"],
        "malformed": m["malformed"]["total"],
        "messages_in": m["messages_in"],
        "bytes_in": m["bytes_in"],
        "stages": {
            s["name"]: {
                "items_out": s["items_out"],
                "rate_hz": round(s["rate_hz"], 1),
                "drops": s["drops"],
                "errors": s["errors"],
            }
            for s in m["stages"]
        },
    }
    return res


def baseline(o: Options, seconds: float) -> list[float]:
    """The same wrist observations through the same fusion stage, delivered in process to N callbacks."""
    import threading

    from app.plugins.registry import Registry
    from perception.stream import CallbackSink, Observation, Pipeline, Source

    class Gestures(Source):
        def run(self, emit, stop: threading.Event) -> None:
            t0 = time.monotonic()
            k = 0
            while not stop.is_set() and k / o.gestures_hz < seconds:
                delay = t0 + k / o.gestures_hz - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
                now = time.monotonic_ns()
                emit(Observation("wrist", GESTURES[k % len(GESTURES)], 0.9, now - 60_000_000, now))
                k += 1

    lat: list[float] = []

    def deliver(ev) -> None:
        for _ in range(o.subscribers):  # each subscriber's callback sees the event
            lat.append((time.monotonic_ns() - ev.t_emitted_ns) / 1e6)

    stage, _ = Registry(include_entry_points=False).create("cuekit.recognizers", "fusion", {})
    pipe = Pipeline()
    src = pipe.add(Gestures(name="gestures"))
    ticker = stage.companion_sources()[0]
    pipe.add(ticker)
    pipe.add(stage, inputs=[src, ticker])
    pipe.add(CallbackSink(deliver, name="callbacks"), inputs=[stage])
    pipe.start()
    time.sleep(seconds + 0.5)
    pipe.drain(2.0)
    return lat


def run_bench(o: Options) -> Result:
    d = DaemonProcess(config=o.config) if o.config else DaemonProcess()
    try:
        res = asyncio.run(_loopback(o, d))
    finally:
        code = d.stop()
    res.daemon["exit_code"] = code
    print("bench daemon: in-process baseline", file=sys.stderr)
    res.samples["baseline"] = baseline(o, o.baseline_seconds or min(10.0, o.seconds))
    res.baseline_latency_ms = percentiles(res.samples["baseline"])
    if res.latency_ms and res.baseline_latency_ms:
        res.ratio_p50 = round(res.latency_ms["p50"] / max(res.baseline_latency_ms["p50"], 1e-3), 2)
        res.ratio_p99 = round(res.latency_ms["p99"] / max(res.baseline_latency_ms["p99"], 1e-3), 2)
    return res


def plot(res: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    for label, xs in (
        ("daemon over WebSocket", res.samples.get("daemon", [])),
        ("in-process callback (baseline)", res.samples.get("baseline", [])),
    ):
        if xs:
            a = np.sort(np.asarray(xs))
            ax.plot(a, np.arange(1, a.size + 1) / a.size, label=f"{label} (n={a.size})")
    ax.set_xscale("log")
    ax.set_xlabel("intent delivery latency (ms): fusion emit -> subscriber")
    ax.set_ylabel("fraction of deliveries")
    ax.set_title(
        f"{res.subscribers} subscribers, {res.seconds:.0f} s, 30 fps JPEG + 16 kHz audio + 200 Hz IMU on loopback",
        fontsize=8,
    )
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="cuekit bench daemon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--subscribers", type=int, default=50)
    p.add_argument("--config", type=Path, help="daemon TOML (default: wrist recogniser + fusion)")
    p.add_argument("--plot", type=Path, help="save a latency CDF (PNG), daemon vs in-process baseline")
    args = p.parse_args(argv)
    res = run_bench(Options(seconds=args.seconds, subscribers=args.subscribers, config=args.config))
    if args.plot:
        plot(res, args.plot)
    if args.json:
        out = asdict(res)
        out.pop("samples")
        print(json.dumps(out))
    else:
        print(f"{res.subscribers} subscribers, {res.seconds} s, sent {res.sent} ({res.sent_mb} MB)")
        print(
            f"intents published {res.intents_published}; lost by subscribers that kept up: "
            f"{res.lost_intents_keeping_up} ({res.subscribers_keeping_up} kept up)"
        )
        print(f"written to sockets (daemon side) ms {res.server_side_ms}")
        print(
            f"delivery latency ms {res.latency_ms}; in-process baseline {res.baseline_latency_ms}; "
            f"ratio p50 {res.ratio_p50} p99 {res.ratio_p99}"
        )
        print(f"daemon: {res.daemon['cpu_percent_of_one_core']}% CPU, RSS {res.daemon['rss_mb_end']} MB")
    return 0 if res.lost_intents_keeping_up == 0 else 1
