/**
 * The gait module on a bare bus: the AB06 foot, rotated by its walking
 * calibration, against the gait golden vectors (whose rate came from the
 * IK-fitted AB06_FOOT_TO_SEGMENT): the sign convention, the events, the
 * strides with range of motion from the model's angles.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { calibrate, type Mat3, type Vec3 } from "../../edge/calibration/index.js";
import type { Placement } from "../../edge/contract/manifest.js";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents } from "../../edge/core/events.js";
import { STRIDE_JOINTS } from "../../edge/gait/strides.js";
import type { GaitEventMessage, StrideMessage } from "../../edge/gait/types.js";
import { memoryLogger } from "../../edge/log.js";
import { GaitModule } from "../../edge/modules/gait.js";
import type { AnglesMessage, LiveSuffix, TopicPayloads } from "../../edge/mqtt/topics.js";
import { ab06Rows, ab06Samples } from "../helpers/ab06.js";

interface GaitGolden {
  input: { t: number[]; sagittal_rate: number[]; angles: number[][] };
  expected: { events: { type: string; t: number }[]; strides: { t_start: number; cadence_spm: number }[] };
}
const gaitGolden = JSON.parse(readFileSync(path.resolve("test/fixtures/gait/golden.json"), "utf8")) as GaitGolden;
const calGolden = JSON.parse(readFileSync(path.resolve("test/fixtures/calibration/golden.json"), "utf8")) as {
  inputs: { foot: { acc: Vec3[]; gyro: Vec3[] } };
};
/** The foot's walking calibration, as the mounting module finds it (15 s of the same trial). */
const FOOT = calibrate(calGolden.inputs.foot.acc, calGolden.inputs.foot.gyro).C!;

function setup(view: { C: Mat3 | undefined }) {
  const logger = memoryLogger();
  const bus = new EventBus<EdgeEvents>({ logger });
  const sent: Array<{ suffix: LiveSuffix; payload: unknown }> = [];
  const device = { publish: <K extends LiveSuffix>(suffix: K, payload: TopicPayloads[K]) => void sent.push({ suffix, payload }) };
  const gait = new GaitModule(
    { enabled: true },
    { logger, bus, device, mounting: { rotation: (_w: string, p: Placement) => (p === "calcn_r" ? view.C : undefined) }, joints: () => STRIDE_JOINTS },
  );
  const events = () => sent.filter((m) => m.suffix === "gait/event").map((m) => m.payload as GaitEventMessage);
  const strides = () => sent.filter((m) => m.suffix === "gait/stride").map((m) => m.payload as StrideMessage);
  return { bus, gait, events, strides };
}

describe("gait module", () => {
  it("the calibrated foot rate has the detector's sign (toes rising positive): it matches the golden AB06 rate", () => {
    const rows = new Map(ab06Rows().map((r) => [r.tUs, r]));
    let sxy = 0, sxx = 0, syy = 0;
    gaitGolden.input.t.forEach((t, i) => {
      const g = rows.get(Math.round(t * 1e6))!.foot.gyro;
      const w = FOOT[2][0] * g[0] + FOOT[2][1] * g[1] + FOOT[2][2] * g[2];
      const y = gaitGolden.input.sagittal_rate[i]!;
      sxy += w * y;
      sxx += w * w;
      syy += y * y;
    });
    expect(sxy / Math.sqrt(sxx * syy)).toBeGreaterThan(0.95); // measured 0.999; a reversed z would be -0.999
  });

  it("publishes the golden heel strikes and toe offs of the AB06 foot, and strides with range of motion once the angles arrive", async () => {
    const { bus, gait, events, strides } = setup({ C: FOOT });
    await gait.start();
    for (const s of ab06Samples()) bus.emit("sample", s);
    const golden = gaitGolden.expected.events;
    for (const type of ["heel_strike", "toe_off"] as const) {
      const got = events().filter((e) => e.type === type);
      const want = golden.filter((e) => e.type === type);
      expect(got.length, type).toBe(want.length);
      got.forEach((e, i) => expect(Math.abs(e.tUs / 1e6 - want[i]!.t), `${type} ${i}`).toBeLessThan(0.02));
    }
    expect(events().every((e) => e.wearer === "default" && e.placement === "calcn_r" && e.detectedUs >= e.tUs)).toBe(true);
    // The right foot's strides wait for the model's angles (range of motion).
    expect(strides()).toEqual([]);
    const angles: AnglesMessage = {
      seq: 1, model: { name: "m", version: "1" }, joints: [...STRIDE_JOINTS], units: "deg",
      t: gaitGolden.input.t.map((t) => t * 1000), angles: gaitGolden.input.angles, sensorTimeUs: gaitGolden.input.t.map((t) => Math.round(t * 1e6)),
    };
    bus.emit("angles", { message: angles, readyAtMs: 0 });
    const want = gaitGolden.expected.strides;
    expect(strides().length).toBe(want.length);
    strides().forEach((s, i) => {
      expect(Math.abs(s.cadenceSpm - want[i]!.cadence_spm)).toBeLessThan(2);
      expect(s.romDeg!.knee_flexion_r).toBeGreaterThan(40);
    });
    expect(gait.stats()["default/calcn_r"]).toMatchObject({ events: events().length, strides: want.length, uncalibratedSamples: 0 });
    await gait.stop();
  });

  it("publishes nothing for a foot without a calibration, and restarts the detector when the calibration changes", async () => {
    const view: { C: Mat3 | undefined } = { C: undefined };
    const { bus, gait, events } = setup(view);
    await gait.start();
    const samples = ab06Samples();
    const half = Math.floor(samples.length / 2);
    samples.slice(0, half).forEach((s) => bus.emit("sample", s));
    expect(events()).toEqual([]);
    expect(gait.stats()["default/calcn_r"]!.uncalibratedSamples).toBeGreaterThan(1000);
    view.C = FOOT;
    samples.slice(half).forEach((s) => bus.emit("sample", s));
    expect(events().length).toBeGreaterThan(3);
    expect(gait.stats()["default/calcn_r"]!.restarts).toBe(1);
    // The thigh is never analysed: only feet.
    expect(Object.keys(gait.stats())).toEqual(["default/calcn_r"]);
    await gait.stop();
  });
});
