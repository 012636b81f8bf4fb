import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { playAll, startError, tempDir, removeTempDirs } from "./helpers.js";

const HEADER = '{"format":"gait-recording","version":1,"created":"2024-01-01T00:00:00.000Z","deviceId":"pi-1"}';

afterAll(removeTempDirs);

describe("gait recording reader", () => {
  it("plays sample records, skips angles, events and unknown kinds, counts bad lines with line numbers", async () => {
    const file = join(tempDir(), "mixed.jsonl.gz");
    const lines = [
      HEADER,
      '{"k":"s","id":"femur_r","t":1000,"seq":7,"a":[1,2,3],"g":[4,5,6],"m":[7,8,9],"q":[1,0,0,0]}',
      '{"k":"a","w":1,"joints":{"knee_flexion_r":12}}',
      '{"k":"e","w":2,"name":"broker_down"}',
      '{"k":"z","future":true}',
      '{"k":"s","id":"femur_r","t":2000,"a":[1,null,3],"g":[4,5,6]}',
      '{"k":"s","id":"femur_r","t":3000,"a":[1,2,3]',
      "[1,2]",
      "",
      '{"k":"s","id":"calcn_r","t":4000,"a":[1,2,3],"g":[4,5,6]}',
    ];
    writeFileSync(file, gzipSync(lines.join("\n") + "\n"));
    const { samples, issues } = await playAll({ file });

    expect(samples).toEqual([
      { sensorId: "femur_r", tUs: 1000, seq: 7, acc: [1, 2, 3], gyro: [4, 5, 6], mag: [7, 8, 9], quat: [1, 0, 0, 0] },
      { sensorId: "calcn_r", tUs: 4000, acc: [1, 2, 3], gyro: [4, 5, 6] },
    ]);
    expect(issues.map((i) => [i.kind, i.message.split(": ")[0]])).toEqual([
      ["bad_value", `${file}:6`],
      ["bad_frame", `${file}:7`],
      ["bad_frame", `${file}:8`],
    ]);
    expect(issues[0]!.message).toContain("a.1");
    expect(issues[0]!.sensorId).toBe("femur_r");
  });

  it("refuses a file whose first line is not a gait-recording header, or another version", async () => {
    const dir = tempDir();
    const wrong = join(dir, "wrong.jsonl");
    writeFileSync(wrong, '{"format":"something-else"}\n');
    expect((await startError({ file: wrong, format: "recording" })).message).toContain(`${wrong}: not a gait recording`);

    const v2 = join(dir, "v2.jsonl");
    writeFileSync(v2, HEADER.replace('"version":1', '"version":2') + "\n");
    expect((await startError({ file: v2 })).message).toContain(`${v2}: gait recording version 2 is not supported`);
  });
});
