// A minimal RFC 6455 WebSocket client for Node versions without a global WebSocket (Debian 12 ships
// Node 18). It implements the subset of the browser API the CueKit client uses: onopen, onmessage,
// onclose, onerror, send, close, readyState, binaryType = "arraybuffer". Browsers and Node >= 22 use
// their own WebSocket; this file is loaded only when there is none.
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class NodeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(url, protocols, options = {}) {
    this.url = url;
    this.readyState = NodeWebSocket.CONNECTING;
    this.binaryType = "arraybuffer";
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._socket = null;
    this._buf = Buffer.alloc(0);
    this._fragments = [];
    this._fragmentOpcode = 0;
    this._closeSent = false;
    const u = new URL(url);
    const key = randomBytes(16).toString("base64");
    const secure = u.protocol === "wss:";
    const req = (secure ? httpsRequest : httpRequest)({
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port || (secure ? 443 : 80),
      path: u.pathname + u.search,
      headers: {
        Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": key, ...(options.headers || {}),
      },
    });
    req.on("upgrade", (res, socket, head) => {
      const accept = createHash("sha1").update(key + GUID).digest("base64");
      if (res.headers["sec-websocket-accept"] !== accept) {
        socket.destroy();
        this._fail(new Error("bad Sec-WebSocket-Accept from the server"));
        return;
      }
      this._socket = socket;
      socket.setNoDelay(true);
      socket.on("data", (d) => this._onData(d));
      socket.on("close", () => this._finish(1006, ""));
      socket.on("error", (e) => this._emit("onerror", { type: "error", error: e, message: e.message }));
      this.readyState = NodeWebSocket.OPEN;
      this._emit("onopen", { type: "open" });
      if (head && head.length) this._onData(head);
    });
    req.on("response", (res) => {
      // the handshake was refused (401, 403, 503 ...): report the status like a failed browser connect
      res.resume();
      this._fail(new Error(`server refused the WebSocket handshake: HTTP ${res.statusCode}`), res.statusCode);
    });
    req.on("error", (e) => this._fail(e));
    req.end();
  }

  _emit(name, ev) {
    const fn = this[name];
    if (typeof fn === "function") fn.call(this, ev);
  }

  _fail(error, status) {
    if (this.readyState === NodeWebSocket.CLOSED) return;
    this._emit("onerror", { type: "error", error, message: error.message, status });
    this._finish(1006, error.message, status);
  }

  _finish(code, reason, status) {
    if (this.readyState === NodeWebSocket.CLOSED) return;
    this.readyState = NodeWebSocket.CLOSED;
    if (this._socket) this._socket.destroy();
    this._emit("onclose", { type: "close", code, reason, wasClean: code === 1000, status });
  }

  _frame(opcode, payload) {
    const len = payload.length;
    let head;
    if (len < 126) {
      head = Buffer.alloc(2);
      head[1] = 0x80 | len;
    } else if (len < 65536) {
      head = Buffer.alloc(4);
      head[1] = 0x80 | 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    head[0] = 0x80 | opcode;
    const mask = randomBytes(4);
    const body = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
    return Buffer.concat([head, mask, body]);
  }

  send(data) {
    if (this.readyState !== NodeWebSocket.OPEN) throw new Error("WebSocket is not open");
    if (typeof data === "string") {
      this._socket.write(this._frame(0x1, Buffer.from(data, "utf8")));
    } else {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this._socket.write(this._frame(0x2, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
    }
  }

  get bufferedAmount() {
    return this._socket ? this._socket.writableLength : 0;
  }

  close(code = 1000, reason = "") {
    if (this.readyState === NodeWebSocket.CONNECTING) {
      this._finish(code, reason);
      return;
    }
    if (this.readyState !== NodeWebSocket.OPEN) return;
    this.readyState = NodeWebSocket.CLOSING;
    this._sendClose(code, reason);
    // the server answers with its own close frame; do not wait for ever if it does not
    setTimeout(() => this._finish(code, reason), 2000).unref();
  }

  _sendClose(code, reason) {
    if (this._closeSent) return;
    this._closeSent = true;
    const r = Buffer.from(reason, "utf8");
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this._socket.write(this._frame(0x8, p));
  }

  _onData(chunk) {
    this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
    for (;;) {
      const b = this._buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE_BYTES)) {
          this._fail(new Error(`frame of ${big} bytes exceeds ${MAX_MESSAGE_BYTES}`));
          return;
        }
        len = Number(big);
        off = 10;
      }
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) return;
      let payload = b.subarray(off, off + len);
      if (masked) {
        payload = Buffer.from(payload);
        for (let i = 0; i < len; i++) payload[i] ^= b[maskOff + (i & 3)];
      }
      this._buf = b.subarray(off + len);
      this._onFrame(fin, opcode, payload);
      if (this.readyState === NodeWebSocket.CLOSED) return;
    }
  }

  _onFrame(fin, opcode, payload) {
    if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
      if (this.readyState === NodeWebSocket.OPEN) this._sendClose(code === 1005 ? 1000 : code, "");
      this._socket.end();
      this._finish(code, reason);
      return;
    }
    if (opcode === 0x9) {
      this._socket.write(this._frame(0xa, payload));
      return;
    }
    if (opcode === 0xa) return;
    if (opcode === 0x1 || opcode === 0x2) {
      this._fragmentOpcode = opcode;
      this._fragments = [];
    }
    this._fragments.push(Buffer.from(payload));
    if (!fin) return;
    const whole = Buffer.concat(this._fragments);
    this._fragments = [];
    const data = this._fragmentOpcode === 0x1 ? whole.toString("utf8")
      : whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength);
    this._emit("onmessage", { type: "message", data });
  }
}
