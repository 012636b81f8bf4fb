/** Spawns the CLI as a user would (`tsx edge/cli.ts ...`) and collects its exit code and output. */
import { execFile } from "node:child_process";
import path from "node:path";

const TSX = path.resolve("node_modules/.bin/tsx");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(TSX, ["edge/cli.ts", ...args], { env: { ...process.env, GAIT_MQTT_PASSWORD: "" }, timeout: 60_000 }, (err, stdout, stderr) => {
      // A non-zero exit comes as an error whose `code` is the exit code; -1: it never exited (killed, not started).
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
    });
  });
}

