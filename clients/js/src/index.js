// CueKit protocol client (version 1) for browsers and Node: connect with a token, reconnect with
// backoff, subscribe to intents / observations / stats, and push sensor data and context.
// No dependencies. The wire format and every field are described in docs/daemon.md and the JSON
// Schemas in app/daemon/schemas/; index.d.ts carries the same shapes as TypeScript types.

export const PROTOCOL_VERSION = "1";
export const CLIENT_VERSION = "0.1.0";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Nanoseconds on this process's monotonic clock (the daemon maps them onto its own, clock "own"). */
export function nowNs() {
  if (typeof process !== "undefined" && process.hrtime && process.hrtime.bigint) {
    return Number(process.hrtime.bigint());
  }
  return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}

function withoutUndefined(d) {
  const out = {};
  for (const [k, v] of Object.entries(d)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

/** One protocol message: text when there is no payload, else header JSON + "\n" + payload bytes. */
export function encodeMessage(type, data = {}, payload = null) {
  const header = { type, data };
  if (!payload || payload.byteLength === 0) return JSON.stringify(header);
  header.payload_length = payload.byteLength;
  const head = enc.encode(JSON.stringify(header) + "\n");
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(payload.buffer ?? payload, payload.byteOffset ?? 0, payload.byteLength), head.byteLength);
  return out;
}

/** Parse a daemon message (text, or binary header + extra data + payload) into {type, data, payload}. */
export function decodeMessage(raw) {
  if (typeof raw === "string") {
    const h = JSON.parse(raw);
    return { type: h.type, data: h.data ?? {}, payload: new Uint8Array(0) };
  }
  const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
  const nl = bytes.indexOf(10);
  const h = JSON.parse(dec.decode(nl < 0 ? bytes : bytes.subarray(0, nl)));
  const rest = nl < 0 ? new Uint8Array(0) : bytes.subarray(nl + 1);
  const dl = h.data_length ?? 0;
  const data = dl ? { ...(h.data ?? {}), ...JSON.parse(dec.decode(rest.subarray(0, dl))) } : (h.data ?? {});
  return { type: h.type, data, payload: rest.subarray(dl) };
}

class AuthError extends Error {}
export { AuthError };

async function webSocketClass(given) {
  if (given) return { Impl: given, native: true };
  if (typeof globalThis.WebSocket === "function" && typeof process === "undefined") {
    return { Impl: globalThis.WebSocket, native: true };  // a browser
  }
  // Node (18 has no WebSocket; 22's cannot set headers): our own, which sends the token as a header
  // and reports the HTTP status of a refused handshake
  const { NodeWebSocket } = await import("./websocket-node.js");
  return { Impl: NodeWebSocket, native: false };
}

export class CueKitClient {
  /**
   * @param {string} url  ws://host:port/ of `cuekit serve`
   * @param {object} [options] see ClientOptions in index.d.ts
   */
  constructor(url = "ws://127.0.0.1:8765/", options = {}) {
    this.url = url;
    this.options = {
      token: undefined, name: "cuekit-js", clock: "own", streamId: undefined, reconnect: true,
      backoffMs: [100, 5000], openTimeoutMs: 5000, WebSocket: undefined, ...options,
    };
    this.info = null;
    this.connected = false;
    this.reconnects = 0;
    this.unsent = 0;
    this.serverDropped = 0;
    this.errors = [];
    this._ws = null;
    this._listeners = new Map();
    this._subscription = null;
    this._closing = false;
    this._pingSeq = 0;
    this._pongs = new Map();
    this._seq = new Map();
    this._retry = null;
  }

  // events -----------------------------------------------------------------------------------------
  /** Listen to a message type ("intent", "observation", "stats", "thumbnail", "dropped", "error", "info",
   * ...) or a connection event ("open", "close", "reconnecting", "message" for every message). A message
   * listener gets (data, {type, data, payload}); a thumbnail's JPEG is the payload. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  /** The next message of `type` (optionally one for which `predicate` holds), or a timeout error. */
  next(type, { timeoutMs = 10000, predicate = () => true } = {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.on(type, (data) => {
        if (!predicate(data)) return;
        clearTimeout(timer);
        off();
        resolve(data);
      });
    });
  }

  _emit(type, arg, msg) {
    for (const fn of this._listeners.get(type) ?? []) {
      try {
        fn(arg, msg);
      } catch (e) {
        console.error(`cuekit client: a "${type}" listener threw`, e);
      }
    }
  }

  // connection -------------------------------------------------------------------------------------
  /** Connect and handshake (describe -> info); resolves with the daemon's info. */
  async connect() {
    this._closing = false;
    return this._open();
  }

  async _open() {
    const { Impl, native } = await webSocketClass(this.options.WebSocket);
    let url = this.url;
    const token = this.options.token;
    if (token && native) {
      // browsers cannot set headers on a WebSocket: the daemon also takes ?token=
      const u = new URL(url);
      u.searchParams.set("token", token);
      url = u.toString();
    }
    const ws = native ? new Impl(url) : new Impl(url, undefined,
      { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    ws.binaryType = "arraybuffer";
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`no info from ${this.url} within ${this.options.openTimeoutMs} ms`)),
        this.options.openTimeoutMs);
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try { ws.close(); } catch { /* already closed */ }
        reject(err);
      };
      ws.onopen = () => {
        const describe = withoutUndefined({
          client: { name: this.options.name, version: CLIENT_VERSION }, protocol: PROTOCOL_VERSION,
          clock: this.options.clock, stream_id: this.options.streamId,
        });
        ws.send(encodeMessage("describe", describe));
      };
      ws.onerror = (ev) => {
        if (ev && ev.status === 401) fail(new AuthError(`${this.url} refused the token (401)`));
      };
      ws.onclose = (ev) => {
        if (!settled) {
          const why = ev.status ? `HTTP ${ev.status}` : `close ${ev.code}`;
          fail(ev.status === 401 ? new AuthError(`${this.url} refused the token (401)`)
            : new Error(`cannot connect to ${this.url} (${why})`));
          return;
        }
        this._onClosed(ev);
      };
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = decodeMessage(ev.data);
        } catch (e) {
          this._emit("malformed", e);
          return;
        }
        if (!settled && msg.type === "info") {
          settled = true;
          clearTimeout(timer);
          this._ws = ws;
          this.info = msg.data;
          this.connected = true;
          if (this._everConnected) this.reconnects += 1;
          this._everConnected = true;
          if (this._subscription) ws.send(encodeMessage("subscribe", this._subscription));
          this._emit("open", msg.data);
          resolve(msg.data);
        }
        this._dispatch(ws, msg);
      };
    });
  }

  _dispatch(ws, msg) {
    const { type, data } = msg;
    if (type === "ping") {
      ws.send(encodeMessage("pong", { seq: data.seq ?? 0 }));
      return;
    }
    if (type === "pong") {
      const done = this._pongs.get(data.seq);
      if (done) {
        this._pongs.delete(data.seq);
        done();
      }
      return;
    }
    if (type === "dropped" && (data.direction ?? "out") === "out") this.serverDropped += data.count;
    if (type === "error") this.errors.push(data);
    this._emit("message", msg);
    this._emit(type, data, msg);
  }

  _onClosed(ev) {
    this.connected = false;
    this._ws = null;
    this._emit("close", { code: ev.code, reason: ev.reason });
    if (this._closing || !this.options.reconnect) return;
    this._scheduleReconnect(this.options.backoffMs[0]);
  }

  _scheduleReconnect(delayMs) {
    this._emit("reconnecting", { delayMs });
    this._retry = setTimeout(async () => {
      this._retry = null;
      if (this._closing) return;
      try {
        await this._open();
      } catch (e) {
        if (e instanceof AuthError) {
          this._emit("close", { code: 4001, reason: e.message });
          return;
        }
        this._scheduleReconnect(Math.min(delayMs * 2, this.options.backoffMs[1]));
      }
    }, delayMs);
  }

  /** Close for good (no reconnect). */
  close() {
    this._closing = true;
    if (this._retry) clearTimeout(this._retry);
    if (this._ws) this._ws.close(1000, "client closing");
    this.connected = false;
  }

  _send(frame) {
    if (!this._ws || !this.connected) {
      this.unsent += 1;  // sensor data is real time: it is not queued for a later connection
      return false;
    }
    this._ws.send(frame);
    return true;
  }

  // subscriptions -----------------------------------------------------------------------------------
  /** Subscribe (replaces the filter of each stream named); kept and restored after a reconnect.
   * Resolves with the daemon's `subscribed` reply. */
  subscribe(streams) {
    this._subscription = { ...(this._subscription ?? {}), ...streams };
    const reply = this.next("subscribed");
    this._send(encodeMessage("subscribe", streams));
    return reply;
  }

  unsubscribe(streams) {
    if (this._subscription) {
      for (const s of streams ?? ["intents", "observations", "stats"]) delete this._subscription[s];
    }
    const reply = this.next("subscribed");
    this._send(encodeMessage("unsubscribe", streams ? { streams } : {}));
    return reply;
  }

  /** Round trip to the daemon in milliseconds. */
  ping(timeoutMs = 5000) {
    const seq = ++this._pingSeq;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this._pongs.delete(seq); reject(new Error("no pong")); }, timeoutMs);
      this._pongs.set(seq, () => { clearTimeout(timer); resolve(performance.now() - t0); });
      if (!this._send(encodeMessage("ping", { seq, t_ns: nowNs() }))) {
        clearTimeout(timer);
        this._pongs.delete(seq);
        reject(new Error("not connected"));
      }
    });
  }

  _nextSeq(kind) {
    const n = this._seq.get(kind) ?? 0;
    this._seq.set(kind, n + 1);
    return n;
  }

  // pushing -------------------------------------------------------------------------------------------
  /** Mono or interleaved PCM: Int16Array goes as int16, Float32Array (in [-1, 1]) as float32. */
  pushAudio(samples, { rate, channels = 1, tNs, seq, sourceId } = {}) {
    if (!rate) throw new TypeError("pushAudio needs { rate }");
    let width;
    if (samples instanceof Int16Array) width = 2;
    else if (samples instanceof Float32Array) width = 4;
    else throw new TypeError("pushAudio takes an Int16Array or a Float32Array");
    const payload = new Uint8Array(samples.byteLength);
    const view = new DataView(payload.buffer);
    for (let i = 0; i < samples.length; i++) {
      if (width === 2) view.setInt16(i * 2, samples[i], true);
      else view.setFloat32(i * 4, samples[i], true);
    }
    const data = withoutUndefined({ rate, width, channels, t_ns: tNs, seq: seq ?? this._nextSeq("audio"),
      source_id: sourceId });
    return this._send(encodeMessage("audio-chunk", data, payload));
  }

  /** N IMU samples: tNs[N] (ns), accel [[x,y,z]...] m/s² with gravity, gyro rad/s, mag µT (optional). */
  pushImu({ tNs, accel, gyro, mag, seq, sourceId }) {
    const n = tNs.length;
    if (!n || accel.length !== n) throw new TypeError("pushImu needs tNs and accel of the same non-zero length");
    const blocks = [accel, gyro, mag].filter(Boolean);
    for (const b of blocks) if (b.length !== n) throw new TypeError("gyro/mag must have one row per sample");
    const payload = new Uint8Array(n * 8 + n * 12 * blocks.length);
    const view = new DataView(payload.buffer);
    for (let i = 0; i < n; i++) view.setBigInt64(i * 8, BigInt(Math.round(Number(tNs[i]))), true);
    let off = n * 8;
    for (const b of blocks) {
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < 3; k++) view.setFloat32(off + (i * 3 + k) * 4, b[i][k], true);
      }
      off += n * 12;
    }
    const data = withoutUndefined({ count: n, gyro: Boolean(gyro), mag: Boolean(mag),
      seq: seq ?? this._nextSeq("imu"), source_id: sourceId });
    return this._send(encodeMessage("imu-batch", data, payload));
  }

  /** One JPEG image (Uint8Array / ArrayBuffer holding the file's bytes). */
  pushVideoFrame(jpeg, { tNs, seq, width, height, sourceId } = {}) {
    const bytes = jpeg instanceof Uint8Array ? jpeg : new Uint8Array(jpeg);
    const data = withoutUndefined({ format: "jpeg", t_ns: tNs, seq: seq ?? this._nextSeq("video"), width, height,
      source_id: sourceId });
    return this._send(encodeMessage("video-frame", data, bytes));
  }

  /** A hand skeleton tracked by the headset: 21 (mediapipe21) or 26 (openxr26) joints [x, y, z]. */
  pushHandJoints({ joints, layout = "mediapipe21", space = "image", handedness = "unknown", score = 1,
    trackId = 0, tNs, seq, sourceId }) {
    const data = withoutUndefined({ layout, space, joints, handedness, score, track_id: trackId, t_ns: tNs,
      seq: seq ?? this._nextSeq("hands"), source_id: sourceId });
    return this._send(encodeMessage("hand-joints", data));
  }

  /** An eye-gaze ray (world frame, direction normalised). */
  pushGaze({ origin, direction, confidence = 1, targetId, tNs, sourceId }) {
    return this._send(encodeMessage("gaze-ray", withoutUndefined({ origin, direction, confidence,
      target_id: targetId, t_ns: tNs, source_id: sourceId })));
  }

  /** Scene targets: op "replace" (default), "upsert" (one target), "remove" (id), "clear". */
  pushScene({ targets = [], op = "replace", id, tNs, sourceId } = {}) {
    return this._send(encodeMessage("scene-targets", withoutUndefined({ op, targets, id, t_ns: tNs,
      source_id: sourceId })));
  }

  /** An observation from the headset's own recogniser (the daemon assigns the id). */
  pushObservation({ modality, kind, confidence = 1, tStartNs, tEndNs, payload = {}, sourceId }) {
    const t1 = tEndNs ?? nowNs();
    return this._send(encodeMessage("observation", withoutUndefined({ modality, kind, confidence,
      t_start_ns: tStartNs ?? t1, t_end_ns: t1, payload, source_id: sourceId })));
  }
}
