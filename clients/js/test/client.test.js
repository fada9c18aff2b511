// The client against a real `cuekit serve` on loopback (started here; CUEKIT_BIN overrides the command).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { AuthError, CueKitClient, nowNs } from "../src/index.js";
import { freePort, startDaemon } from "../testing/daemon.js";

let daemon;
before(async () => { daemon = await startDaemon(); });
after(async () => { await daemon?.stop(); });

async function metrics(d, token) {
  const r = await fetch(`${d.http}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return r.json();
}

test("handshake: info lists what the daemon accepts, streams and the intents it can emit", async () => {
  const c = new CueKitClient(daemon.url, { name: "js-test" });
  const info = await c.connect();
  try {
    assert.equal(info.protocol, "1");
    for (const t of ["audio-chunk", "imu-batch", "video-frame", "hand-joints", "gaze-ray", "scene-targets"]) {
      assert.ok(info.accepts.includes(t), `accepts ${t}`);
    }
    assert.deepEqual(info.streams, ["intents", "observations", "stats", "frames"]);
    assert.ok(info.stages.some((s) => s.name === "hub.intents"));
  } finally {
    c.close();
  }
});

test("a pushed observation becomes an intent (wrist twist -> volume_up) and comes back as an observation", async () => {
  const c = new CueKitClient(daemon.url);
  await c.connect();
  try {
    const sub = await c.subscribe({ intents: { names: ["volume_up"] }, observations: { modalities: ["wrist"] } });
    assert.deepEqual(Object.keys(sub.streams).sort(), ["intents", "observations"]);
    const obs = c.next("observation");
    const intent = c.next("intent");
    const t = nowNs();
    assert.ok(c.pushObservation({ modality: "wrist", kind: "twist_cw", confidence: 0.9, tStartNs: t - 2e8, tEndNs: t }));
    const o = await obs;
    assert.equal(o.kind, "twist_cw");
    assert.equal(o.modality, "wrist");
    const ev = await intent;
    assert.equal(ev.name, "volume_up");
    assert.deepEqual(ev.modalities, ["wrist"]);
    assert.ok(ev.derived_from.includes(o.id), "the intent names the observation it came from");
    assert.ok(ev.latency_ms >= 0 && ev.latency_ms < 2000, `latency ${ev.latency_ms} ms`);
    const rtt = await c.ping();
    assert.ok(rtt > 0 && rtt < 2000);
  } finally {
    c.close();
  }
});

test("every push type is accepted by the daemon's schemas and converted (no error, counted in /metrics)", async () => {
  const c = new CueKitClient(daemon.url);
  await c.connect();
  const errors = [];
  c.on("error", (e) => errors.push(e));
  const before = (await metrics(daemon)).messages_in;
  try {
    const t = nowNs();
    const rate = 16000;
    const pcm = new Int16Array(1600);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    assert.ok(c.pushAudio(pcm, { rate, tNs: t }));
    assert.ok(c.pushAudio(new Float32Array(800).fill(0.1), { rate, tNs: t + 1e8 }));
    const n = 10;
    const tNs = Array.from({ length: n }, (_, i) => t + i * 5e6);
    const accel = Array.from({ length: n }, () => [0, 0, 9.81]);
    const gyro = Array.from({ length: n }, () => [0.01, 0, 0]);
    assert.ok(c.pushImu({ tNs, accel, gyro }));
    // a 1x1 white JPEG (the daemon decodes it in net.video)
    const jpeg = Uint8Array.from(Buffer.from(
      "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==",
      "base64"));
    assert.ok(c.pushVideoFrame(jpeg, { tNs: t }));
    const joints = Array.from({ length: 21 }, (_, i) => [100 + i, 200 + i, 0]);
    assert.ok(c.pushHandJoints({ joints, handedness: "right", tNs: t }));
    assert.ok(c.pushScene({ targets: [{ id: "lamp", label: "lamp", position: [0, 0, 2], radius: 0.3 }] }));
    assert.ok(c.pushGaze({ origin: [0, 0, 0], direction: [0, 0, 1], confidence: 0.8, tNs: t }));
    await c.ping();  // the daemon answers in order: everything above has been parsed when the pong arrives
    await new Promise((r) => setTimeout(r, 300));  // conversion happens in the input threads
    const m = await metrics(daemon);
    const delta = (k) => (m.messages_in[k] ?? 0) - (before[k] ?? 0);
    assert.equal(delta("audio-chunk"), 2);
    for (const k of ["imu-batch", "video-frame", "hand-joints", "scene-targets", "gaze-ray"]) assert.equal(delta(k), 1, k);
    assert.deepEqual(errors, []);
  } finally {
    c.close();
  }
});

test("a malformed push is answered with an error naming the problem", async () => {
  const c = new CueKitClient(daemon.url);
  await c.connect();
  try {
    const err = c.next("error");
    c.pushHandJoints({ joints: [[0, 0, 0]] });  // 1 joint, the layout needs 21
    const e = await err;
    assert.equal(e.code, "schema");
    assert.match(e.message, /joints/);
  } finally {
    c.close();
  }
});

test("stats stream per-stage numbers", async () => {
  const c = new CueKitClient(daemon.url);
  await c.connect();
  try {
    await c.subscribe({ stats: { interval_s: 0.2 } });
    const s = await c.next("stats", { timeoutMs: 5000 });
    assert.ok(s.stages.length > 0);
    for (const st of s.stages) assert.equal(typeof st.drops, "number");
    assert.ok("intents" in s.daemon);
  } finally {
    c.close();
  }
});

test("token: refused without it or with a wrong one (AuthError), accepted with it", async () => {
  const token = "js-test-token-0123456789";
  const d = await startDaemon([], { env: { CUEKIT_TOKEN: token } });
  try {
    await assert.rejects(new CueKitClient(d.url, { reconnect: false }).connect(), AuthError);
    await assert.rejects(new CueKitClient(d.url, { token: "wrong-token-0123456789", reconnect: false }).connect(),
      AuthError);
    const c = new CueKitClient(d.url, { token });
    const info = await c.connect();
    assert.equal(info.protocol, "1");
    c.close();
  } finally {
    await d.stop();
  }
});

test("reconnects with backoff after the daemon restarts and restores the subscription", async () => {
  const port = await freePort();
  let d = await startDaemon([], { port });
  const c = new CueKitClient(d.url, { backoffMs: [50, 400] });
  const delays = [];
  c.on("reconnecting", ({ delayMs }) => delays.push(delayMs));
  try {
    await c.connect();
    await c.subscribe({ intents: {} });
    const closed = c.next("close");
    assert.equal(await d.stop(), 0);
    await closed;
    assert.equal(c.connected, false);
    assert.equal(c.pushObservation({ modality: "wrist", kind: "twist_cw" }), false);
    assert.equal(c.unsent, 1);
    await new Promise((r) => setTimeout(r, 600));  // a few failed attempts, each waiting longer
    const reopened = c.next("open", { timeoutMs: 60000 });  // before the restart: it may reconnect at once
    d = await startDaemon([], { port });
    await reopened;
    assert.equal(c.reconnects, 1);
    assert.ok(delays.length >= 2 && delays[1] > delays[0], `backoff grows: ${delays}`);
    assert.ok(Math.max(...delays) <= 400);
    const intent = c.next("intent");
    c.pushObservation({ modality: "wrist", kind: "twist_ccw", confidence: 0.9 });
    assert.equal((await intent).name, "volume_down");  // the intents subscription survived the restart
  } finally {
    c.close();
    await d.stop();
  }
});
