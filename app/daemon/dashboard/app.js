// The live dashboard: intent timeline with slots and evidence, per-stage latency and drops, camera
// thumbnails with hand landmarks, and a button that pushes a test observation. Everything it shows comes
// through the JS client (clients/js), like any other client of the daemon.

// MediaPipe's 21 hand landmarks: the bones between them
const BONES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11], [11, 12],
  [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [0, 17], [17, 18], [18, 19], [19, 20]];
const MODALITY_COLOUR = { speech: "#1e88e5", hand: "#d81b60", wrist: "#43a047", gaze: "#f9a825", context: "#f9a825" };

function el(doc, tag, attrs = {}, ...children) {
  const e = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function slotText(slots) {
  return Object.entries(slots ?? {}).map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`)
    .join(", ");
}

export function startDashboard(client, doc) {
  const $ = (id) => doc.getElementById(id);
  const intents = [];  // in arrival order
  const seenIds = new Set();
  const observations = new Map();  // id -> observation, for the evidence column
  let t0 = null;  // the earliest time seen: the timeline's zero

  const status = (cls, text) => { $("status").className = `status ${cls}`; $("status").textContent = text; };
  client.on("open", (info) => {
    status("open", "connected");
    $("server").textContent = `${info.server?.name ?? "cuekit"} ${info.server?.version ?? ""} · protocol ${info.protocol}`;
    $("expected").textContent = (info.intents ?? []).join(", ") || "(the daemon does not list them)";
    $("push-test").disabled = !info.accepts.includes("observation");
  });
  client.on("close", () => { status("closed", "disconnected"); $("push-test").disabled = true; });
  client.on("reconnecting", ({ delayMs }) => status("reconnecting", `reconnecting in ${delayMs} ms`));

  function evidence(ev) {
    const cell = el(doc, "td", { class: "evidence" });
    for (const id of ev.derived_from ?? []) {
      const o = observations.get(id);
      const chip = o ? el(doc, "span", { class: `chip ${o.modality}`, title: `observation ${id}`,
        text: `${o.modality}:${o.kind} ${o.confidence.toFixed(2)}` })
        : el(doc, "span", { class: "chip", text: `#${id}`, title: "observation not seen by this page" });
      chip.dataset.observationId = String(id);
      cell.append(chip);
    }
    return cell;
  }

  function drawTimeline() {
    const svg = $("timeline");
    if (!intents.length) return;
    const ts = intents.map((i) => i.t_emitted_ns);
    const lo = Math.min(...ts);
    const hi = Math.max(...ts, lo + 1e9);
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    for (const ev of intents) {
      const x = 10 + ((ev.t_emitted_ns - lo) / (hi - lo)) * 980;
      const w = Math.max(2, ((ev.t_emitted_ns - ev.t_first_evidence_ns) / (hi - lo)) * 980);
      const bar = doc.createElementNS(ns, "rect");
      bar.setAttribute("x", String(x - w));
      bar.setAttribute("width", String(w));
      bar.setAttribute("y", "20");
      bar.setAttribute("height", "20");
      bar.setAttribute("fill", MODALITY_COLOUR[ev.modalities?.[0]] ?? "#607d8b");
      const title = doc.createElementNS(ns, "title");
      title.textContent = `${ev.name}(${slotText(ev.slots)}) ${ev.latency_ms?.toFixed(0)} ms`;
      bar.append(title);
      svg.append(bar);
    }
  }

  client.on("intent", (ev) => {
    if (seenIds.has(ev.id)) return;  // a reconnect replays the recent ones
    seenIds.add(ev.id);
    intents.push(ev);
    t0 = t0 === null ? ev.t_first_evidence_ns : Math.min(t0, ev.t_first_evidence_ns);
    const row = el(doc, "tr", { class: "intent new" },
      el(doc, "td", { class: "num t", text: ((ev.t_emitted_ns - t0) / 1e9).toFixed(2) }),
      el(doc, "td", { class: "name", text: ev.name }),
      el(doc, "td", { class: "slots", text: slotText(ev.slots) }),
      el(doc, "td", { class: "num", text: ev.confidence.toFixed(2) }),
      el(doc, "td", { class: "modalities" }, ...(ev.modalities ?? []).map((m) => el(doc, "span", { class: `chip ${m}`, text: m }))),
      evidence(ev),
      el(doc, "td", { class: "num", text: (ev.latency_ms ?? 0).toFixed(1) }));
    row.dataset.intentId = ev.id;
    row.dataset.intentName = ev.name;
    $("intents").tBodies[0].append(row);
    $("intent-count").textContent = String(intents.length);
    drawTimeline();
  });

  client.on("observation", (o) => {
    observations.set(o.id, o);
    for (const chip of doc.querySelectorAll(`[data-observation-id="${o.id}"]`)) {
      chip.className = `chip ${o.modality}`;
      chip.textContent = `${o.modality}:${o.kind} ${o.confidence.toFixed(2)}`;
    }
    if (observations.size > 5000) observations.delete(observations.keys().next().value);
  });

  client.on("stats", (s) => {
    const body = $("stages").tBodies[0];
    body.replaceChildren(...s.stages.map((st) => {
      const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2));
      const row = el(doc, "tr", {},
        el(doc, "td", { text: st.name }),
        el(doc, "td", { class: "num", text: fmt(st.rate_hz) }),
        el(doc, "td", { class: "num", text: fmt(st.latency_ms_p50) }),
        el(doc, "td", { class: "num", text: fmt(st.latency_ms_p95) }),
        el(doc, "td", { class: "num", text: String(st.queue_depth ?? "–") }),
        el(doc, "td", { class: `num drops${st.drops ? " bad" : ""}`, text: String(st.drops) }),
        el(doc, "td", { class: "num", text: String(st.errors) }));
      row.dataset.stage = st.name;
      return row;
    }));
    const d = s.daemon;
    $("daemon-totals").textContent = `clients ${d.connections?.current ?? "?"} · intents published ${d.intents?.published ?? "?"}`
      + ` · delivered ${d.intents?.delivered ?? "?"} · dropped out ${d.dropped?.out ?? 0} / in ${d.dropped?.in ?? 0}`
      + ` · malformed ${d.malformed?.total ?? 0}`;
    $("stats-age").textContent = `updated ${new Date().toLocaleTimeString()}`;
  });

  const canvases = new Map();
  client.on("thumbnail", async (th, msg) => {
    let fig = canvases.get(th.source_id);
    if (!fig) {
      $("cameras").querySelector(".empty")?.remove();
      const canvas = el(doc, "canvas", { width: String(th.width), height: String(th.height) });
      fig = { canvas, caption: el(doc, "figcaption") };
      const f = el(doc, "figure", {}, canvas, fig.caption);
      f.dataset.source = th.source_id;
      $("cameras").append(f);
      canvases.set(th.source_id, fig);
    }
    const bmp = await createImageBitmap(new Blob([msg.payload], { type: "image/jpeg" }));
    const { canvas } = fig;
    canvas.width = th.width;
    canvas.height = th.height;
    const g = canvas.getContext("2d");
    g.drawImage(bmp, 0, 0);
    for (const hand of th.hands ?? []) {
      g.strokeStyle = hand.handedness === "left" ? "#40c4ff" : "#ff4081";
      g.lineWidth = 1.5;
      g.beginPath();
      for (const [a, b] of BONES) {
        g.moveTo(...hand.points[a]);
        g.lineTo(...hand.points[b]);
      }
      g.stroke();
      g.fillStyle = "#fff";
      for (const [x, y] of hand.points) g.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    fig.caption.textContent = `${th.source_id} · frame ${th.seq} · ${(th.hands ?? []).length} hand(s)`;
    fig.canvas.dataset.hands = String((th.hands ?? []).length);
  });

  $("push-test").addEventListener("click", () => {
    // a wrist twist observation as a headset's own recogniser would push it; fusion makes it volume_up
    client.pushObservation({ modality: "wrist", kind: "twist_cw", confidence: 0.9, sourceId: "dashboard" });
  });

  client.connect().then(() => client.subscribe({
    intents: { recent: 1024 }, observations: { recent: 2048 }, stats: { interval_s: 1 },
    frames: { interval_s: 0.2, max_width: 240 },
  })).catch((e) => status("closed", `cannot connect: ${e.message}`));
  return { intents, observations };
}
