import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { readLines, ReplayLineTooLongError } from "../../../edge/sources/replay/lines.js";
import { DEMO_IMU, playAll, removeTempDirs, tempDir } from "./helpers.js";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

afterAll(removeTempDirs);

async function collect(file: string, maxLineLength?: number): Promise<{ lines: string[]; error: unknown }> {
  const lines: string[] = [];
  try {
    for await (const line of readLines(file, maxLineLength === undefined ? {} : { maxLineLength })) lines.push(line.text);
  } catch (error) {
    return { lines, error };
  }
  return { lines, error: undefined };
}

/** What a recorder leaves after a power cut: good lines, then a zero-filled block with no newline. */
function zeroBlockGz(head: string, zeros: number): string {
  const file = join(tempDir(), "cut.csv.gz");
  // gzip of zeros is about 1000:1, so 8 MB of line costs 8 KB on disk (the field case was 256 MB in 2 MB).
  writeFileSync(file, gzipSync(Buffer.concat([Buffer.from(head), Buffer.alloc(zeros)]), { level: 1 }));
  return file;
}

describe("readLines", () => {
  it("stops a line without end at the cap, naming the file and line, after delivering the lines before it", async () => {
    const file = zeroBlockGz("a\nb\r\n", 8 * 1024 * 1024);
    const { lines, error } = await collect(file);
    expect(lines).toEqual(["a", "b"]);
    expect(error).toBeInstanceOf(ReplayLineTooLongError);
    expect((error as Error).message).toMatch(new RegExp(`^${file}:3: line longer than 65536 characters without a newline`));
  });

  it("takes the cap from the options, and accepts a line of exactly the cap", async () => {
    const file = join(tempDir(), "long.txt");
    writeFileSync(file, `${"x".repeat(100)}\r\n${"y".repeat(101)}\n`);
    const { lines, error } = await collect(file, 100);
    expect(lines).toEqual(["x".repeat(100)]);
    expect((error as Error).message).toContain(`${file}:2: line longer than 100 characters`);
  });

  it("joins a long line spread over many chunks intact, in linear time", async () => {
    // 3 MB in one line arrives in ~48 chunks of 64 KiB: joined once, not re-concatenated per chunk.
    const big = "z".repeat(3 * 1024 * 1024);
    const file = join(tempDir(), "big.txt");
    writeFileSync(file, `first\n${big}\r\nlast`);
    const { lines, error } = await collect(file, 4 * 1024 * 1024);
    expect(error).toBeUndefined();
    expect(lines.map((l) => l.length)).toEqual([5, big.length, 4]);
    expect(lines[1] === big).toBe(true);
  });

  it("gives the same lines as a split of the whole text, for the demo trial", async () => {
    const text = gunzipSync(readFileSync(DEMO_IMU)).toString("utf8");
    const expected = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
    if (expected.at(-1) === "") expected.pop();
    const { lines, error } = await collect(DEMO_IMU);
    expect(error).toBeUndefined();
    expect(lines).toEqual(expected);
  });
});

describe("ReplaySource on a file ending in a zero-filled block", () => {
  it("plays the rows before it, reports an io_error with file and line, and ends", async () => {
    const header = "time,thigh_Accel_X,thigh_Accel_Y,thigh_Accel_Z,thigh_Gyro_X,thigh_Gyro_Y,thigh_Gyro_Z\n";
    const rows = [0, 0.005, 0.01].map((t) => `${t},0,0,1,0,0,0\n`).join("");
    const file = zeroBlockGz(header + rows, 4 * 1024 * 1024);
    const { samples, issues, ended } = await playAll({ file });
    expect(samples).toHaveLength(3);
    expect(ended).toBe(true);
    expect(issues).toEqual([{ kind: "io_error", message: expect.stringContaining(`${file}:5: line longer than 65536 characters`) }]);
  });
});
