// TypeScript types for the CueKit protocol, version 1. The message shapes follow the JSON Schemas in
// app/daemon/schemas/ and perception/stream/schemas/; test/types.test.js fails when a field here and
// a schema property disagree (name, or optional vs required).

export const PROTOCOL_VERSION: "1";
export const CLIENT_VERSION: string;

/** Integer nanoseconds on a monotonic clock. */
export type Nanoseconds = number;
export type Vec3 = [number, number, number];

/** schema: perception/stream/schemas/intent_event.json */
export interface IntentEvent {
  id: string;
  name: string;
  slots: Record<string, unknown>;
  confidence: number;
  modalities: string[];
  derived_from: number[];
  n_best?: Array<{ name: string; confidence: number; slots?: Record<string, unknown> }>;
  t_first_evidence_ns: Nanoseconds;
  t_emitted_ns: Nanoseconds;
  latency_ms?: number;
}

/** schema: perception/stream/schemas/observation.json */
export interface Observation {
  id?: number;
  modality: string;
  kind: string;
  confidence: number;
  t_start_ns: Nanoseconds;
  t_end_ns: Nanoseconds;
  payload?: Record<string, unknown>;
  source_id?: string;
}

/** schema: app/daemon/schemas/info.json */
export interface Info {
  server?: { name: string; version: string };
  protocol: string;
  client_id?: string;
  heartbeat_interval_s: number;
  heartbeat_timeout_s?: number;
  limits: Record<string, unknown>;
  accepts: string[];
  streams: string[];
  emits?: string[];
  stages?: Array<{ name: string; section?: string; plugin?: string }>;
  /** the intents the daemon's spec can emit */
  intents?: string[];
  queue_capacity?: number;
}

/** one entry of Stats.stages (perception/stream/stats.py) */
export interface StageStats {
  name: string;
  rate_hz: number;
  drops: number;
  errors: number;
  latency_ms_p50?: number | null;
  latency_ms_p95?: number | null;
  [key: string]: unknown;
}

/** schema: app/daemon/schemas/stats.json */
export interface Stats {
  t_ns?: Nanoseconds;
  stages: StageStats[];
  daemon: Record<string, unknown>;
}

/** schema: app/daemon/schemas/dropped.json */
export interface Dropped {
  count: number;
  total: number;
  by_type?: Record<string, number>;
  direction?: "out" | "in";
}

/** schema: app/daemon/schemas/error.json */
export interface ErrorMessage {
  code: "bad-frame" | "bad-json" | "unknown-type" | "schema" | "too-large" | "payload" | "version" | "internal";
  message: string;
  ref_type?: string | null;
  malformed_total?: number;
}

/** schema: app/daemon/schemas/subscribed.json */
export interface Subscribed {
  streams: Record<string, unknown>;
}

/** schema: app/daemon/schemas/subscribe.json */
export interface Subscription {
  /** recent: also send up to this many intents published before subscribing (oldest first) */
  intents?: { names?: string[]; min_confidence?: number; recent?: number };
  observations?: { modalities?: string[]; kinds?: string[]; min_confidence?: number; recent?: number };
  stats?: { interval_s?: number };
  /** camera thumbnails with hand landmarks */
  frames?: { interval_s?: number; max_width?: number };
}

/** schema: app/daemon/schemas/thumbnail.json (the JPEG is the message's payload) */
export interface Thumbnail {
  source_id: string;
  t_ns: Nanoseconds;
  seq?: number;
  width: number;
  height: number;
  scale?: number;
  hands?: Array<{ handedness?: "left" | "right" | "unknown"; track_id?: number; score?: number; age_ms?: number; points: Array<[number, number]> }>;
}

/** schema: app/daemon/schemas/scene-targets.json (one target) */
export interface SceneTarget {
  id: string;
  label?: string;
  box?: [number, number, number, number];
  plane?: string;
  position?: Vec3;
  radius?: number;
  aliases?: string[];
  properties?: Record<string, unknown>;
}

export interface ClientOptions {
  token?: string;
  name?: string;
  /** "own" (default): the daemon maps this client's times onto its clock; "shared": same host, CLOCK_MONOTONIC */
  clock?: "own" | "shared";
  streamId?: string;
  reconnect?: boolean;
  /** first and largest wait between reconnect attempts */
  backoffMs?: [number, number];
  openTimeoutMs?: number;
  /** a WebSocket class to use instead of the browser's (or, in Node, the built-in one) */
  WebSocket?: unknown;
}

export interface Message {
  type: string;
  data: Record<string, unknown>;
  payload: Uint8Array;
}

export interface EventMap {
  intent: IntentEvent;
  observation: Observation;
  stats: Stats;
  thumbnail: Thumbnail;
  dropped: Dropped;
  error: ErrorMessage;
  info: Info;
  subscribed: Subscribed;
  message: Message;
  open: Info;
  close: { code: number; reason: string };
  reconnecting: { delayMs: number };
  malformed: Error;
}

export class AuthError extends Error {}

export function nowNs(): Nanoseconds;
export function encodeMessage(type: string, data?: Record<string, unknown>, payload?: Uint8Array | null): string | Uint8Array;
export function decodeMessage(raw: string | ArrayBuffer | Uint8Array): Message;

export class CueKitClient {
  constructor(url?: string, options?: ClientOptions);
  readonly url: string;
  info: Info | null;
  connected: boolean;
  reconnects: number;
  /** pushes made while disconnected (not replayed later: sensor data is real time) */
  unsent: number;
  /** messages the daemon reported it dropped for this client */
  serverDropped: number;
  errors: ErrorMessage[];

  connect(): Promise<Info>;
  close(): void;
  /** message listeners also get the whole message (a thumbnail's JPEG is `message.payload`) */
  on<K extends keyof EventMap>(type: K, fn: (data: EventMap[K], message?: Message) => void): () => void;
  off<K extends keyof EventMap>(type: K, fn: (data: EventMap[K], message?: Message) => void): void;
  next<K extends keyof EventMap>(type: K, options?: { timeoutMs?: number; predicate?: (data: EventMap[K]) => boolean }): Promise<EventMap[K]>;
  subscribe(streams: Subscription): Promise<Subscribed>;
  unsubscribe(streams?: Array<"intents" | "observations" | "stats" | "frames">): Promise<Subscribed>;
  ping(timeoutMs?: number): Promise<number>;

  pushAudio(samples: Int16Array | Float32Array, options: { rate: number; channels?: number; tNs?: Nanoseconds; seq?: number; sourceId?: string }): boolean;
  pushImu(batch: { tNs: ArrayLike<number>; accel: Vec3[]; gyro?: Vec3[]; mag?: Vec3[]; seq?: number; sourceId?: string }): boolean;
  pushVideoFrame(jpeg: Uint8Array | ArrayBuffer, options?: { tNs?: Nanoseconds; seq?: number; width?: number; height?: number; sourceId?: string }): boolean;
  pushHandJoints(hand: { joints: Vec3[]; layout?: "mediapipe21" | "openxr26"; space?: "image" | "world"; handedness?: "left" | "right" | "unknown"; score?: number; trackId?: number; tNs?: Nanoseconds; seq?: number; sourceId?: string }): boolean;
  pushGaze(ray: { origin: Vec3; direction: Vec3; confidence?: number; targetId?: string; tNs?: Nanoseconds; sourceId?: string }): boolean;
  pushScene(scene?: { targets?: SceneTarget[]; op?: "replace" | "upsert" | "remove" | "clear"; id?: string; tNs?: Nanoseconds; sourceId?: string }): boolean;
  pushObservation(obs: { modality: string; kind: string; confidence?: number; tStartNs?: Nanoseconds; tEndNs?: Nanoseconds; payload?: Record<string, unknown>; sourceId?: string }): boolean;
}
