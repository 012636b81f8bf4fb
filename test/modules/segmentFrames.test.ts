/**
 * A gait-features/2 model on a bare bus: the pipelines, the mounting and the
 * status modules together (tiny-v2's real contract, a model that returns
 * zeros). Angles come only from segment frames: withheld while a sensor is
 * calibrating, refused (standing only, never moving), swapped or stopped
 * fitting; at once from a saved calibration. Each bad case gets a clear status
 * and no angles; a left-handed stream is converted, reported, and has angles.
 */
import { describe, expect, it } from "vitest";
import type { Mat3, Vec3 } from "../../edge/calibration/index.js";
import { loadManifest, type Placement } from "../../edge/contract/manifest.js";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents, MountingEvent, RoutedSample } from "../../edge/core/events.js";
import type { WindowModel } from "../../edge/inference/onnxModel.js";
import { memoryLogger } from "../../edge/log.js";
import { matrixFromQuat, MountingModule } from "../../edge/modules/mounting.js";
import { PipelinesModule } from "../../edge/modules/pipelines.js";
import { StatusModule } from "../../edge/modules/status.js";
import type { AnglesMessage, StatusMessage } from "../../edge/mqtt/topics.js";
import type { SavedMounting } from "../../edge/runtime/calibrationFile.js";
import { pipelineConfigSchema, type PipelineStats } from "../../edge/runtime/pipeline.js";
import { ab06Samples } from "../helpers/ab06.js";
import { standingAndStillSamples } from "../helpers/badMounting.js";

const V2 = "test/fixtures/models/tiny-v2/manifest.json";

interface V2Run {
  angles: AnglesMessage[];
  statuses: StatusMessage[];
  events: Array<MountingEvent & { tUs: number }>;
  saved: SavedMounting[];
  stats: PipelineStats | undefined;
  mounting: MountingModule;
  /** Sensor time (µs) of the first published sample. */
  firstAngleUs: number | undefined;
}

async function v2Run(samples: readonly RoutedSample[], options: { loaded?: SavedMounting[] } = {}): Promise<V2Run> {
  const contract = await loadManifest(V2);
  const logger = memoryLogger();
  const bus = new EventBus<EdgeEvents>({ logger });
  const size = contract.pipeline.window * contract.pipeline.joints.length;
  const zeros: WindowModel = { run: async () => new Float32Array(size) };
  const statuses: StatusMessage[] = [];
  const status = new StatusModule({ logger, bus, device: { publishRetained: async (_s, m) => void statuses.push(m as StatusMessage) }, snapshot: () => ({}) });
  const saved: SavedMounting[] = [];
  const mounting = new MountingModule(
    { enabled: true, walkS: 20 },
    { logger, bus, placements: () => contract.pipeline.placements, segmentFrames: () => true, store: { savedMountings: () => options.loaded ?? [], saveMounting: async (m) => void saved.push(m) } },
  );
  const pipelines = new PipelinesModule(pipelineConfigSchema.parse({ staleAfterMs: 60_000 }), { logger, bus, lane: () => ({ contract, model: zeros }), mounting });
  const angles: AnglesMessage[] = [];
  const events: V2Run["events"] = [];
  let tUs = 0;
  bus.on("angles", ({ message }) => angles.push(message));
  bus.on("mounting", (e) => events.push({ ...e, tUs }));
  await status.start();
  await pipelines.start();
  await mounting.start();
  for (let i = 0; i < samples.length; i++) {
    tUs = samples[i]!.sample.tUs;
    bus.emit("sample", samples[i]!);
    // One window in flight at a time: let each finish, as the replay's backpressure does.
    if (i % 20 === 0) await pipelines.idle();
  }
  await pipelines.idle();
  const stats = pipelines.stats().default;
  for (const m of [mounting, pipelines, status]) await m.stop();
  return { angles, statuses, events, saved, stats, mounting, firstAngleUs: angles[0]?.sensorTimeUs?.[0] };
}

const T0 = ab06Samples()[0]!.sample.tUs;
const lastStatus = (r: V2Run): StatusMessage => r.statuses.at(-1)!;

describe("gait-features/2: angles only from segment frames", () => {
  it("withholds the angles while calibrating (status says so, with progress), then publishes them", async () => {
    const r = await v2Run(ab06Samples({ repeat: 2 }));
    const calibrated = (p: Placement) => r.events.find((e) => e.placement === p && e.state === "calibrated")!.tUs;
    const both = Math.max(calibrated("femur_r"), calibrated("calcn_r"));
    expect((both - T0) / 1e6).toBeLessThan(30);
    expect(r.angles.length).toBeGreaterThan(0);
    // Nothing from before the calibration: the first published sample is after it.
    expect(r.firstAngleUs!).toBeGreaterThanOrEqual(both);
    expect(r.statuses.some((m) => m.state === "online" && /calcn_r: calibrating mounting \d+% \(keep walking; no angles until then\)/.test(m.reason ?? ""))).toBe(true);
    expect(lastStatus(r)).toEqual({ state: "online", since: expect.any(Number) });
    expect(r.stats!.frames).toMatchObject({ waitingFor: null, restarts: 1 });
    expect(r.stats!.frames!.withheld).toBeGreaterThan(2000);
  });

  it("a calibration loaded from calibration.file gives angles at once, and is re-checked", async () => {
    const first = await v2Run(ab06Samples({ repeat: 2 }));
    const r = await v2Run(ab06Samples({ repeat: 2 }), { loaded: first.saved });
    expect((r.firstAngleUs! - T0) / 1e6).toBeLessThan(1); // the first window of the first second
    expect(r.statuses.some((m) => /calibrating/.test(m.reason ?? ""))).toBe(false);
    expect(r.stats!.frames!.withheld).toBe(0);
    const fit = r.mounting.stats()["default/femur_r"]!;
    expect(fit).toMatchObject({ state: "calibrated", source: "file" });
    expect(fit.lastFitDeg).not.toBeNull(); // re-checked against the walking
  });

  it("standing only, and a sensor that never moves: refused with their reasons, no angles", async () => {
    const samples = standingAndStillSamples();
    const r = await v2Run(samples);
    expect(r.angles).toEqual([]);
    const s = lastStatus(r);
    expect(s.state).toBe("degraded");
    expect(s.reason).toMatch(/femur_r: mounting calibration refused \(standing_only: [^)]*\)[^;]*; angles withheld/);
    expect(s.reason).toMatch(/calcn_r: mounting calibration refused \(no_motion: the sensor never moved[^)]*\)[^;]*; angles withheld/);
    expect(r.stats!.frames!.waitingFor).toBe("femur_r");
  });

  it("thigh and foot swapped: reported, naming both sensors, and no angles", async () => {
    const r = await v2Run(ab06Samples({ repeat: 2, thighAs: "calcn_r", footAs: "femur_r" }));
    expect(r.events.some((e) => e.state === "swapped")).toBe(true);
    expect(r.angles).toEqual([]);
    expect(lastStatus(r)).toMatchObject({ state: "degraded", reason: expect.stringMatching(/sensor "calcn_r" \(worn as femur_r\) and sensor "femur_r" \(worn as calcn_r\) look swapped.*; angles withheld/) });
  });

  it("a left-handed thigh stream: converted (docs/contract.md 2b), recalibrated, reported, and angles published", async () => {
    const flip = (v: Vec3): Vec3 => [v[0], v[1], -v[2]];
    const samples = ab06Samples({ repeat: 2 }).map((s) =>
      s.placement === "femur_r" ? { ...s, sample: { ...s.sample, acc: flip(s.sample.acc), gyro: flip(s.sample.gyro) } } : s,
    );
    const r = await v2Run(samples);
    expect(r.events.some((e) => e.state === "refused")).toBe(false);
    expect(r.events.find((e) => e.placement === "femur_r" && e.state === "calibrated")).toMatchObject({ handedness: "left", reason: expect.stringMatching(/left-handed stream converted/) });
    expect(r.events.find((e) => e.placement === "calcn_r" && e.state === "calibrated")!.handedness).toBe("right");
    expect(r.angles.length).toBeGreaterThan(0);
    // Working, and the status says what was converted (a note: the state stays online).
    expect(lastStatus(r)).toMatchObject({ state: "online", reason: expect.stringMatching(/^femur_r: left-handed stream converted \(acc Z and gyro Z negated/) });
    expect(r.mounting.stats()["default/femur_r"]).toMatchObject({ state: "calibrated", handedness: "left" });
    expect(r.saved.find((m) => m.placement === "femur_r")!.handedness).toBe("left");
    // The features are those of the unflipped stream: the same angles' timing, the same frame restarts.
    const plain = await v2Run(ab06Samples({ repeat: 2 }));
    expect(r.stats!.frames).toEqual(plain.stats!.frames);
  });

  it("a re-strap mid-session: stops fitting, the features restart in the recalibrated frame, angles again", async () => {
    const Q = rotation([0.3, -0.8, 0.5], 50);
    const rowsPerCopy = ab06Samples().length / 2;
    const r = await v2Run(ab06Samples({ repeat: 4, mount: (_p, k) => (k >= 2 * rowsPerCopy ? Q : undefined) }));
    const stopped = r.events.find((e) => e.state === "stopped_fitting")!;
    expect(stopped).toBeDefined();
    const recal = r.events.filter((e) => e.state === "calibrated" && /recalibrated after a re-strap/.test(e.reason ?? "")).at(-1)!;
    expect(recal).toBeDefined();
    const times = r.angles.flatMap((m) => m.sensorTimeUs!);
    expect(times.some((t) => t < stopped.tUs)).toBe(true); // angles before the re-strap was found
    expect(times.some((t) => t > recal.tUs)).toBe(true); // and again after the recalibration
    expect(r.stats!.frames!.restarts).toBeGreaterThanOrEqual(2); // the recalibrated frame restarted the features
    expect(lastStatus(r).state).toBe("online");
  });
});

/** A rotation of `deg` about `axis` (v_new = Q v_old). */
function rotation(axis: Vec3, deg: number): Mat3 {
  const n = Math.hypot(...axis);
  const h = (deg * Math.PI) / 360;
  const s = Math.sin(h) / n;
  return matrixFromQuat([Math.cos(h), axis[0] * s, axis[1] * s, axis[2] * s]);
}

describe("gait-features/2: configuration", () => {
  it("a segment-frame model with the mounting calibration switched off is refused at start, saying why", async () => {
    const logger = memoryLogger();
    const module = new MountingModule({ enabled: false, walkS: 20 }, { logger, bus: new EventBus<EdgeEvents>({ logger }), placements: () => ["femur_r", "calcn_r"], segmentFrames: () => true });
    await expect(module.start()).rejects.toThrow(/mounting\.enabled is false, but the model reads segment frames \(gait-features\/2\)/);
    // A v1 model does not need it.
    const v1 = new MountingModule({ enabled: false, walkS: 20 }, { logger, bus: new EventBus<EdgeEvents>({ logger }), placements: () => ["femur_r", "calcn_r"], segmentFrames: () => false });
    await expect(v1.start()).resolves.toBeUndefined();
  });
});

describe("gait-features/2: the pipeline and a rotation that comes and goes", () => {
  it("stops at once when a placement loses its rotation (stopped fitting), and restarts cleanly on the new one", async () => {
    const contract = await loadManifest(V2);
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const size = contract.pipeline.window * contract.pipeline.joints.length;
    const zeros: WindowModel = { run: async () => new Float32Array(size) };
    const A = rotation([0, 1, 0], 30), B = rotation([1, 0, 0], 40);
    let current: Mat3 | undefined = A;
    const pipelines = new PipelinesModule(pipelineConfigSchema.parse({ staleAfterMs: 60_000 }), {
      logger, bus, lane: () => ({ contract, model: zeros }), mounting: { rotation: () => current },
    });
    const angles: AnglesMessage[] = [];
    bus.on("angles", ({ message }) => angles.push(message));
    await pipelines.start();
    const samples = ab06Samples();
    const offAt = samples[1000]!.sample.tUs, onAt = samples[2000]!.sample.tUs;
    for (let i = 0; i < samples.length; i++) {
      // Stopped fitting at sample 1000 (no rotation), recalibrated (another one) at 2000.
      current = i < 1000 ? A : i < 2000 ? undefined : B;
      bus.emit("sample", samples[i]!);
      if (i % 20 === 0) await pipelines.idle();
    }
    await pipelines.idle();
    const stats = pipelines.stats().default!;
    await pipelines.stop();
    const times = angles.flatMap((m) => m.sensorTimeUs!);
    expect(times.filter((t) => t >= offAt && t < onAt - 10_000)).toEqual([]); // withheld until recalibrated
    expect(times.some((t) => t < offAt)).toBe(true);
    const after = angles.filter((m) => m.sensorTimeUs![0]! >= onAt - 10_000);
    expect(after.length).toBeGreaterThan(0);
    // The first window after it is a new segment's window 0 (all 50 samples), none from the old frame.
    expect(after[0]!.angles.length).toBe(contract.pipeline.window);
    expect(after[0]!.sensorTimeUs![0]!).toBeGreaterThanOrEqual(onAt - 10_000);
    expect(stats.frames).toMatchObject({ restarts: 2, waitingFor: null });
  });
});
