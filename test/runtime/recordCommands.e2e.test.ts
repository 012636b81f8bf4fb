/**
 * record_start / record_stop over MQTT, through the whole runtime and its
 * embedded broker: a simulated wearer walks, a named recording is cut out of
 * the stream, and the reply lists files that hold its samples and angles.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import type { RecordStopped } from "../../edge/modules/recorder.js";
import { recordingHeaderSchema } from "../../edge/recording/format.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { sendCommand } from "../../edge/runtime/remote.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { waitFor } from "../helpers/waitFor.js";
import { readRecording, walkingRuntime } from "../helpers/walkingRuntime.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";

describe("recording control commands", { timeout: 60_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("record_start {session} ... record_stop records that stretch and lists its files", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "rec-cmd-"));
    const { runtime, angles } = await walkingRuntime(dir, "rec-cmd");
    cleanups.push(() => runtime.stop());
    const send = (command: string, args?: Record<string, unknown>) => sendCommand(runtime.brokerUrl, "gait", "rec-cmd", { command, ...(args ? { args } : {}) });

    expect(await send("record_stop")).toMatchObject({ status: "error", error: "not recording (send record_start first)" });
    const started = await send("record_start", { session: "walk-1" });
    expect(started).toMatchObject({ status: "ok", data: { session: "walk-1", file: expect.stringContaining(`${dir}${path.sep}rec-cmd-walk-1-`) } });
    expect(await send("record_start")).toMatchObject({ status: "error", error: 'already recording session "walk-1"; send record_stop first' });
    const before = angles();
    await waitFor("three angles messages", () => angles() >= before + 3, 20_000);
    const stopped = await send("record_stop");
    expect(stopped.status).toBe("ok");
    const data = stopped.data as RecordStopped;
    expect(data.session).toBe("walk-1");
    expect(data.files).toEqual([(started.data as { file: string }).file]);
    expect(data.dropped).toBe(0);

    const [header, ...records] = await readRecording(data.files[0]!);
    expect(recordingHeaderSchema.parse(header)).toMatchObject({ deviceId: "rec-cmd", session: "walk-1", part: 1 });
    expect(records.length).toBe(data.records);
    expect(records.filter((r) => r.k === "a").length).toBeGreaterThanOrEqual(2);
    expect(records.filter((r) => r.k === "s").length).toBeGreaterThan(100);

    // A second recording without a name is named after its file.
    const again = await send("record_start");
    const file = (again.data as { file: string }).file;
    expect(again.data).toEqual({ session: path.basename(file).replace(/\.jsonl\.gz$/, ""), file });
    expect(await send("record_start", { session: "a/b" })).toMatchObject({ status: "error", error: expect.stringMatching(/^invalid args for record_start/) });
    expect((await send("record_stop")).data).toMatchObject({ files: [file] });
  });

  it("without a recorder section the commands say recording is off", async () => {
    const runtime = new EdgeRuntime(parseConfig({ model: MODEL, sources: [{ kind: "simulator" }], mqtt: { deviceId: "no-rec", embedded: { host: "127.0.0.1", port: 0 } } }), {
      logger: memoryLogger(),
    });
    await runtime.start();
    cleanups.push(() => runtime.stop());
    const r = await sendCommand(runtime.brokerUrl, "gait", "no-rec", { command: "record_start" });
    expect(r).toMatchObject({ status: "error", error: "recording is off: the config has no `recorder` section" });
  });
});
