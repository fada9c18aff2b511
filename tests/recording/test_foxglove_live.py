"""The live Foxglove view (the `foxglove` sink, foxglove-sdk): a Foxglove client connecting over the
protocol sees the recording's channels and schema names, and receives the messages a recording would hold,
stamped on the wall clock."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import numpy as np
import pytest

pytest.importorskip("foxglove", reason="the foxglove extra (foxglove-sdk) is not installed")

from websockets.asyncio.client import connect

from app.plugins.registry import Registry
from app.sinks.foxglove_live import FoxgloveLiveSink
from perception.stream import ImuBatch, IntentEvent, VideoFrame


def test_a_foxglove_client_sees_the_recordings_channels_and_messages():
    sink = FoxgloveLiveSink({"port": 0})
    sink.setup()
    try:
        t = time.monotonic_ns()
        wall = time.time_ns()
        sink.process(VideoFrame(np.zeros((24, 32, 3), np.uint8), t, 0, source_id="cam"), None)
        sink.process(ImuBatch(np.array([t, t + 5_000_000]), np.ones((2, 3)), seq=3, source_id="wrist"), None)

        async def client():
            async with connect(f"ws://127.0.0.1:{sink.port}", subprotocols=["foxglove.sdk.v1"]) as ws:
                info = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert info["op"] == "serverInfo" and info["name"] == "cuekit"
                channels = {}
                while set(channels) != {"/video/cam", "/imu/wrist"}:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg["op"] == "advertise":
                        channels.update({c["topic"]: c for c in msg["channels"]})
                sink.process(IntentEvent("i1", "select", {"target": "lamp"}, 0.9, ["hand"], [1], t, t + 7), None)
                while "/intents" not in channels:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg["op"] == "advertise":
                        channels.update({c["topic"]: c for c in msg["channels"]})
                subs = {i + 1: topic for i, topic in enumerate(channels)}
                await ws.send(
                    json.dumps(
                        {
                            "op": "subscribe",
                            "subscriptions": [
                                {"id": i, "channelId": channels[topic]["id"]} for i, topic in subs.items()
                            ],
                        }
                    )
                )
                await asyncio.sleep(0.3)  # the subscription is in place before the next messages
                sink.process(IntentEvent("i2", "back", {}, 0.8, ["wrist"], [2], t, t + 9), None)
                sink.process(ImuBatch(np.array([t + 10_000_000]), np.zeros((1, 3)), seq=4, source_id="wrist"), None)
                got = []
                while len(got) < 2:
                    m = await asyncio.wait_for(ws.recv(), 5)
                    if isinstance(m, bytes) and m[0] == 0x01:  # message data: sub id, log time, payload
                        sub, log_time = struct.unpack("<IQ", m[1:13])
                        got.append((subs[sub], log_time, json.loads(m[13:])))
                return channels, got

        channels, got = asyncio.run(client())
        assert {c["topic"]: c["schemaName"] for c in channels.values()} == {
            "/video/cam": "foxglove.CompressedImage",
            "/imu/wrist": "cuekit.ImuSample",
            "/intents": "cuekit.IntentEvent",
        }
        assert all(c["encoding"] == "json" and c["schemaEncoding"] == "jsonschema" for c in channels.values())
        by = {topic: (lt, d) for topic, lt, d in got}
        assert by["/intents"][1]["name"] == "back"
        assert by["/imu/wrist"][1]["seq"] == 4 and by["/imu/wrist"][1]["count"] == 1
        for lt, _ in by.values():  # wall clock, this run
            assert abs(lt - wall) < 60 * 1_000_000_000
    finally:
        sink.close(None)


def test_the_foxglove_sink_is_a_builtin_that_stays_on_loopback():
    reg = Registry()
    stage, _ = reg.create("cuekit.sinks", "foxglove", {"port": 0}, None)
    assert isinstance(stage, FoxgloveLiveSink)
    v = FoxgloveLiveSink.validate({"host": "0.0.0.0"})
    assert not v.ok and "loopback only" in v.reason
