// index.d.ts against the JSON Schemas: every interface below has exactly the schema's properties, and a
// property is optional (`?`) exactly when the schema does not require it. Fails when either side changes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "../../..");
const dts = readFileSync(join(HERE, "../src/index.d.ts"), "utf8");
const json = (p) => JSON.parse(readFileSync(join(REPO, p), "utf8"));
const protocolData = (type) => json(`app/daemon/schemas/${type}.json`).properties.data;

function fields(name) {
  const m = dts.match(new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`));
  assert.ok(m, `interface ${name} in index.d.ts`);
  const out = {};
  for (const line of m[1].split("\n")) {
    const f = line.match(/^ {2}([a-z_]+)(\??):/);
    if (f) out[f[1]] = f[2] === "?" ? "optional" : "required";
  }
  return out;
}

function fromSchema(s) {
  const req = new Set(s.required ?? []);
  return Object.fromEntries(Object.keys(s.properties).map((k) => [k, req.has(k) ? "required" : "optional"]));
}

const CASES = {
  IntentEvent: () => json("perception/stream/schemas/intent_event.json"),
  Observation: () => json("perception/stream/schemas/observation.json"),
  SceneTarget: () => json("perception/stream/schemas/scene.json").$defs.target,
  Info: () => protocolData("info"),
  Stats: () => protocolData("stats"),
  Dropped: () => protocolData("dropped"),
  ErrorMessage: () => protocolData("error"),
  Subscribed: () => protocolData("subscribed"),
  Subscription: () => protocolData("subscribe"),
  Thumbnail: () => protocolData("thumbnail"),
};

for (const [iface, schema] of Object.entries(CASES)) {
  test(`TypeScript ${iface} matches its JSON Schema`, () => {
    assert.deepEqual(fields(iface), fromSchema(schema()));
  });
}

test("the protocol's intent and observation data are the type schemas (one schema per type)", () => {
  assert.equal(protocolData("intent").$ref, json("perception/stream/schemas/intent_event.json").$id);
  assert.equal(protocolData("observation").$ref, json("perception/stream/schemas/observation.json").$id);
});

for (const stream of ["intents", "observations", "stats", "frames"]) {
  test(`Subscription.${stream} takes what the schema allows`, () => {
    const props = protocolData("subscribe").properties[stream].properties;
    const m = dts.match(new RegExp(`\\n  ${stream}\\?: \\{([^}]*)\\}`));
    assert.ok(m, stream);
    const keys = [...m[1].matchAll(/([a-z_]+)\?:/g)].map((x) => x[1]).sort();
    assert.deepEqual(keys, Object.keys(props).sort());
  });
}
