// Starts a real `cuekit serve` on a free loopback port for the tests and stops it afterwards.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "../../..");

export function cuekitCommand() {
  if (process.env.CUEKIT_BIN) return process.env.CUEKIT_BIN;
  const venv = join(REPO, ".venv", "bin", "cuekit");
  return existsSync(venv) ? venv : "cuekit";
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

/** Run `cuekit serve --port P ...args`; resolves once /healthz answers. */
export async function startDaemon(args = [], { port, env = {}, timeoutMs = 60000 } = {}) {
  port = port ?? (await freePort());
  const proc = spawn(cuekitCommand(), ["serve", "--port", String(port), "--log-format", "text", ...args], {
    cwd: REPO, env: { ...process.env, OMP_NUM_THREADS: "1", ...env }, stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((res) => proc.on("exit", (code) => res(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`cuekit serve exited with ${proc.exitCode}:\n${stderr}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`cuekit serve did not answer /healthz within ${timeoutMs} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, proc, url: `ws://127.0.0.1:${port}/`, http: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}
