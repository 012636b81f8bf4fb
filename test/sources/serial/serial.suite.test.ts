/** The source contract over a real socat pty pair: the suite's "device" is the board end of the pty. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { memoryLogger } from "../../../edge/log.js";
import { encodeFrame } from "../../../edge/sources/serial/frame.js";
import { SerialSource, serialSourceSchema } from "../../../edge/sources/serial/serialSource.js";
import { sourceSuite, type SuiteVariant } from "../sourceSuite.js";
import { frameAt } from "./helpers.js";

// Board 1 (thigh) and board 2 (foot), 10 frames each at 100 Hz, interleaved.
const frames = Array.from({ length: 10 }, (_, n) => [frameAt(n, { sensorId: 1 }), frameAt(n, { sensorId: 2 })]).flat();
const expected = frames.map((f) => [f.sensorId === 1 ? "femur_r" : "calcn_r", f.tUs] as const);

/** A frame whose CRC is wrong: what a noisy cable delivers. */
function corrupted(n: number): Buffer {
  const bytes = encodeFrame(frameAt(n, { sensorId: 1 }));
  bytes[bytes.length - 2] = (bytes[bytes.length - 2] ?? 0) ^ 0x5a;
  return bytes;
}

function stream(variant: SuiteVariant): Buffer {
  const parts: Buffer[] = [];
  frames.forEach((f, i) => {
    parts.push(encodeFrame(f));
    if (variant === "bad" && i % 7 === 3) parts.push(corrupted(100 + i));
  });
  return Buffer.concat(parts);
}

async function waitForPaths(paths: readonly string[], child: ChildProcess): Promise<void> {
  for (let i = 0; i < 500 && !paths.every((p) => fs.existsSync(p)); i++) {
    if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode} (is it installed?)`);
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!paths.every((p) => fs.existsSync(p))) throw new Error("socat did not create its pty links in 5 s");
}

sourceSuite({
  name: "serial (binary frames over a socat pty)",
  expected,
  finite: false,
  badInput: { kind: "bad_checksum", count: 3 },
  canBeSilent: true,
  create: async (variant, { noDataTimeoutMs }) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gait-serial-suite-"));
    const host = path.join(dir, "host");
    const board = path.join(dir, "board");
    const socat = spawn("socat", [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${board}`], { stdio: "ignore" });
    await waitForPaths([host, board], socat);
    const writer = fs.openSync(board, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
    const source = new SerialSource(
      serialSourceSchema.parse({ path: host, reconnectMs: 100, sensorNames: { "1": "femur_r", "2": "calcn_r" }, noDataTimeoutMs }),
      { logger: memoryLogger() },
    );
    return {
      source,
      feed: async () => {
        fs.writeSync(writer, stream(variant));
      },
      close: async () => {
        fs.closeSync(writer);
        if (socat.exitCode === null && socat.signalCode === null) {
          const exited = once(socat, "exit");
          socat.kill("SIGTERM");
          await exited;
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
