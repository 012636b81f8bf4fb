/**
 * Runs a real mosquitto broker (tests and `make bench`): a throwaway config (loopback
 * listener, no persistence), a free port, and a stop() that waits for the
 * process to exit. A missing mosquitto FAILS the test with an install hint:
 * CI installs it, and a silently skipped broker test hides regressions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";

export interface MosquittoOptions {
  /** mosquitto_passwd file; when given, anonymous clients are refused. */
  passwordFile?: string;
  aclFile?: string;
  /** Extra lines appended to the config. */
  extraConf?: string;
  /** Reuse a port (to restart a killed broker where clients expect it); default: a free one. */
  port?: number;
}

export interface RunningMosquitto {
  url: string;
  port: number;
  /** The broker's process id (the reliability outage check freezes it with SIGSTOP). */
  pid: number;
  /** Kills the broker (SIGTERM, SIGKILL after 2 s) and removes its temp dir. */
  stop(): Promise<void>;
  /** Kills the broker abruptly (SIGKILL), as a crash would. */
  kill(): Promise<void>;
}

export function findMosquitto(): string {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, "mosquitto");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    "mosquitto not found on PATH nor in /usr/sbin: the MQTT broker tests need a real mosquitto " +
      "(Debian/Ubuntu: apt-get install mosquitto; macOS: brew install mosquitto)",
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RunningMosquitto> {
  const binary = findMosquitto();
  // A free port can be taken between probing and binding: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.port ? 1 : 3); attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(binary, port, opts);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function launch(binary: string, port: number, opts: MosquittoOptions): Promise<RunningMosquitto> {
  const dir = await mkdtemp(path.join(tmpdir(), "mosquitto-test-"));
  const conf = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${opts.passwordFile ? "false" : "true"}`,
    "persistence false",
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    // As deploy/mosquitto/mosquitto.conf: Nagle off toward subscribers, or the
    // per-sample latency measured is the subscriber's delayed ACK (up to 40 ms).
    "set_tcp_nodelay true",
    // Run as root (CI containers) mosquitto would drop to user "mosquitto", which
    // cannot read our temp files; stay as the current user instead.
    ...(process.getuid?.() === 0 ? [`user ${userInfo().username}`] : []),
    ...(opts.passwordFile ? [`password_file ${opts.passwordFile}`] : []),
    ...(opts.aclFile ? [`acl_file ${opts.aclFile}`] : []),
    ...(opts.extraConf ? [opts.extraConf] : []),
  ].join("\n");
  const confPath = path.join(dir, "mosquitto.conf");
  await writeFile(confPath, conf + "\n");

  const child = spawn(binary, ["-c", confPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

  const cleanup = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, exited, spawnError, () => stderr);
  } catch (err) {
    await killAndWait(child, exited, "SIGKILL");
    await cleanup();
    throw err;
  }

  let stopped = false;
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await killAndWait(child, exited, signal);
    await cleanup();
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? -1,
    stop: () => stopWith("SIGTERM"),
    kill: () => stopWith("SIGKILL"),
  };
}

async function waitForPort(
  port: number,
  child: ChildProcess,
  exited: Promise<number | null>,
  spawnError: Promise<Error>,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 5000;
  let failure: Error | undefined;
  void exited.then((code) => {
    failure = new Error(`mosquitto exited with code ${code} before listening on ${port}: ${stderr().trim()}`);
  });
  void spawnError.then((err) => {
    failure = new Error(`cannot run mosquitto: ${err.message}`);
  });
  while (Date.now() < deadline) {
    if (failure) throw failure;
    if (await canConnect(port)) {
      if (child.exitCode !== null) break;
      return;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  throw failure ?? new Error(`mosquitto did not listen on 127.0.0.1:${port} within 5 s: ${stderr().trim()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function killAndWait(child: ChildProcess, exited: Promise<number | null>, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
  await exited;
  clearTimeout(timer);
}
