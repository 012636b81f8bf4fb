/**
 * The runtime end to end with its embedded broker: the shipped AB06 trial
 * (twice back to back: 34 s, the trial alone walks 17 s) replayed at full
 * speed; the mounting calibrates from the walking (status `online` with
 * "calibrating" first), and gait events and strides come out on MQTT.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { GaitEventMessage, StrideMessage } from "../../edge/gait/types.js";
import { memoryLogger } from "../../edge/log.js";
import type { StatusMessage } from "../../edge/mqtt/topics.js";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents } from "../../edge/core/events.js";
import { MountingModule } from "../../edge/modules/mounting.js";
import { formatCalibration, parseCalibration, parseCalibrationFile, type SavedMounting } from "../../edge/runtime/calibrationFile.js";
import { sendCommand } from "../../edge/runtime/remote.js";
import { AB06_TRIAL, ab06Samples } from "../helpers/ab06.js";
import { gridFeeder } from "../helpers/grid.js";
import { ab06TrialFile, deployReplay, type ReplayDeployment } from "../helpers/replayRuntime.js";
import { waitFor } from "../helpers/waitFor.js";

const MODEL = "models/reduced-femur-calcn-lstm/manifest.json";

/** A runtime on its embedded broker replaying `file`, with a subscriber to everything it publishes. */
const deploy = (file: string, calibrationFile: string): ReplayDeployment =>
  deployReplay({ model: MODEL, file, deviceId: "e2e-gait", calibrationFile, mounting: { walkS: 12 } });

/** What the mounting module saves from the trial twice over (in-process, on a bare bus). */
async function mountingsFromWalking(): Promise<SavedMounting[]> {
  const logger = memoryLogger();
  const bus = new EventBus<EdgeEvents>({ logger });
  const saved: SavedMounting[] = [];
  const module = new MountingModule(
    { enabled: true, walkS: 12 },
    { logger, bus, placements: () => ["femur_r", "calcn_r"], store: { savedMountings: () => [], saveMounting: async (m) => void saved.push(m) } },
  );
  await module.start();
  const feed = gridFeeder(bus, ["femur_r", "calcn_r"]);
  for (const s of ab06Samples({ repeat: 2 })) feed.push(s);
  feed.finish();
  await module.stop();
  expect(saved.map((m) => m.placement).sort()).toEqual(["calcn_r", "femur_r"]);
  return saved;
}

describe("mounting calibration and gait events end to end", () => {
  const dir = mkdtemp(path.join(tmpdir(), "gait-mounting-"));
  const calibrationFile = dir.then((d) => path.join(d, "calibration.json"));

  it("calibrates from walking (status online while calibrating), saves it, and publishes gait events and strides", async () => {
    const { of, runtime, done, close } = deploy(await ab06TrialFile(await dir, "ab06_twice", 2), await calibrationFile);
    try {
      await runtime.start();
      await done;
      const strides = () => of<StrideMessage>("gait/e2e-gait/gait/stride");
      // Everything the gait module published has arrived (QoS 0 on a local broker: nothing is lost, only late).
      const published = runtime.stats().gait["default/calcn_r"]!;
      const events = () => of<GaitEventMessage>("gait/e2e-gait/gait/event");
      await waitFor("every gait message on MQTT", () => events().length === published.events && strides().length === published.strides, 30_000);
      expect(published.strides).toBeGreaterThanOrEqual(3);
      expect(events().filter((e) => e.type === "heel_strike").length).toBeGreaterThanOrEqual(5);
      expect(events().every((e) => e.placement === "calcn_r" && e.wearer === "default")).toBe(true);
      const status = await sendCommand(runtime.brokerUrl, "gait", "e2e-gait", { command: "get_status" });
      const data = status.data as { mounting: Record<string, { state: string; source: string; rotation: number[] }> };
      expect(data.mounting["default/femur_r"]).toMatchObject({ state: "calibrated", source: "walking" });
      expect(data.mounting["default/calcn_r"]).toMatchObject({ state: "calibrated", source: "walking" });
      for (const s of strides()) {
        expect(s.cadenceSpm).toBeGreaterThan(80);
        expect(s.cadenceSpm).toBeLessThan(140); // AB06 strides are 0.9-1.4 s
        // The model's angles over the stride (AB06 walks with about 60 deg of knee range).
        expect(s.romDeg?.knee_flexion_r).toBeGreaterThan(30);
      }

      const states = of<StatusMessage>("gait/e2e-gait/status");
      const calibrating = states.findIndex((m) => m.state === "online" && /calibrating mounting \d+%/.test(m.reason ?? ""));
      expect(calibrating).toBeGreaterThanOrEqual(0);
      const after = states.slice(calibrating + 1);
      expect(after.some((m) => m.state === "online" && m.reason === undefined)).toBe(true);
      expect(states.some((m) => m.state === "degraded" && /mounting|swapped/.test(m.reason ?? ""))).toBe(false);

      // Saved, with the gyro-bias part of the file left alone (none was measured).
      const file = await calibrationFile;
      const saved = parseCalibrationFile(await readFile(file, "utf8"), file);
      expect(saved.mountings.map((m) => m.placement).sort()).toEqual(["calcn_r", "femur_r"]);
      expect(parseCalibration(await readFile(file, "utf8"), file)).toEqual([]);
    } finally {
      await close();
    }
  });

  it("after a restart the saved calibration is used at once: gait events from the first step, never 'calibrating'", async () => {
    // The file a previous run saved (made here from the same walk, so this test stands alone).
    const file = path.join(await dir, "saved.json");
    await writeFile(file, formatCalibration([], await mountingsFromWalking()));
    const { of, runtime, done, close } = deploy(AB06_TRIAL, file);
    try {
      await runtime.start();
      await done;
      const events = () => of<GaitEventMessage>("gait/e2e-gait/gait/event");
      // The single trial has 11 heel strikes (test/fixtures/gait/golden.json); walking-only calibration would need 14 s of it.
      await waitFor("the trial's heel strikes", () => events().filter((e) => e.type === "heel_strike").length >= 10, 30_000);
      const status = await sendCommand(runtime.brokerUrl, "gait", "e2e-gait", { command: "get_status" });
      const mounting = (status.data as { mounting: Record<string, { state: string; source: string; lastFitDeg: number | null }> }).mounting;
      expect(mounting["default/calcn_r"]).toMatchObject({ state: "calibrated", source: "file" });
      const states = of<StatusMessage>("gait/e2e-gait/status");
      expect(states.some((m) => /calibrating/.test(m.reason ?? ""))).toBe(false);
    } finally {
      await close();
    }
  });
});
