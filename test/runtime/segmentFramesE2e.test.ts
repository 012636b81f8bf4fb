/**
 * The edge bar of issue #9, end to end through the runtime (replay source,
 * real runtime, embedded broker, a subscriber on MQTT): a replay whose
 * sensors are remounted (a fixed random rotation of acc and gyro per sensor)
 * publishes, after at most 30 s of walking for its automatic calibration,
 * angles within 0.5 deg RMSE of the same replay unrotated. The model is
 * test/fixtures/models/tiny-v2 (gait-features/2); the replay is the shipped
 * AB06 trial three times back to back (52 s; the trial alone walks 17 s).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Mat3 } from "../../edge/calibration/index.js";
import { matrixFromQuat } from "../../edge/modules/mounting.js";
import type { StatusMessage } from "../../edge/mqtt/topics.js";
import { prng } from "../../edge/reliability/fuzzFrames.js";
import { AB06_T0_S, ab06TrialFile, replayAngles } from "../helpers/replayRuntime.js";

const MODEL = "test/fixtures/models/tiny-v2/manifest.json";
const COPIES = 3;

/** A uniformly random rotation from a seeded generator (mulberry32 -> a random unit quaternion). */
function randomRotation(seed: number): Mat3 {
  const next = prng(seed);
  const [u1, u2, u3] = [next(), next(), next()];
  const q: [number, number, number, number] = [
    Math.sqrt(1 - u1) * Math.sin(2 * Math.PI * u2), Math.sqrt(1 - u1) * Math.cos(2 * Math.PI * u2),
    Math.sqrt(u1) * Math.sin(2 * Math.PI * u3), Math.sqrt(u1) * Math.cos(2 * Math.PI * u3),
  ];
  return matrixFromQuat(q[0] < 0 ? [-q[0], -q[1], -q[2], -q[3]] : q);
}

interface Replayed {
  /** Published sample, by sensor time (µs): the angles row. */
  angles: Map<number, number[]>;
  statuses: StatusMessage[];
  mounting: Record<string, { state: string; source: string | null }>;
  t0Us: number;
}

async function replay(file: string, deviceId: string): Promise<Replayed> {
  const dir = await mkdtemp(path.join(tmpdir(), "gait-v2-"));
  // A fresh calibration file: nothing saved yet.
  const r = await replayAngles({ model: MODEL, file, deviceId, calibrationFile: path.join(dir, "calibration.json") });
  return { ...r, mounting: (r.status as { mounting: Replayed["mounting"] }).mounting, t0Us: Math.round(AB06_T0_S * 1e6) };
}

describe("gait-features/2 end to end: remounted sensors calibrate themselves", () => {
  it("a remounted replay publishes, after <= 30 s of walking, angles within 0.5 deg RMSE of the unrotated replay", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-v2-trials-"));
    const plain = await replay(await ab06TrialFile(dir, "plain", COPIES), "v2-plain");
    const mounts = { thigh: randomRotation(11), foot: randomRotation(23) };
    const remounted = await replay(await ab06TrialFile(dir, "remounted", COPIES, (sensor) => mounts[sensor]), "v2-remounted");

    for (const r of [plain, remounted]) {
      expect(r.mounting["default/femur_r"]).toMatchObject({ state: "calibrated", source: "walking" });
      expect(r.mounting["default/calcn_r"]).toMatchObject({ state: "calibrated", source: "walking" });
      const first = Math.min(...r.angles.keys());
      // Withheld while calibrating (no angles from the first 8 s: no calibration can be that quick) ...
      expect((first - r.t0Us) / 1e6).toBeGreaterThan(8);
      // ... and calibrated within 30 s of walking.
      expect((first - r.t0Us) / 1e6).toBeLessThan(30);
      expect(r.statuses.some((m) => /calibrating mounting \d+% \(keep walking; no angles until then\)/.test(m.reason ?? ""))).toBe(true);
      expect(r.statuses.at(-1)).toMatchObject({ state: "online" });
      expect(r.statuses.at(-1)!.reason).toBeUndefined();
    }
    // The two replays' sensor frames differ by large rotations ...
    const angleOf = (Q: Mat3): number => (Math.acos(Math.max(-1, Math.min(1, (Q[0][0] + Q[1][1] + Q[2][2] - 1) / 2))) * 180) / Math.PI;
    expect(angleOf(mounts.thigh)).toBeGreaterThan(30);
    expect(angleOf(mounts.foot)).toBeGreaterThan(30);
    // ... and yet the angles agree, sample for sample.
    let sum = 0, n = 0;
    for (const [t, a] of remounted.angles) {
      const b = plain.angles.get(t);
      if (!b) continue;
      a.forEach((v, j) => (sum += (v - b[j]!) ** 2));
      n += a.length;
    }
    const common = n / 5;
    expect(common).toBeGreaterThan(0.9 * Math.min(plain.angles.size, remounted.angles.size));
    expect(common).toBeGreaterThan(1500); // at least 15 s of angles compared
    const rmse = Math.sqrt(sum / n);
    console.log(`segment-frame e2e: ${common} samples compared, RMSE remounted vs unrotated ${rmse.toExponential(2)} deg; first angles at ${((Math.min(...remounted.angles.keys()) - remounted.t0Us) / 1e6).toFixed(1)} s`);
    expect(rmse).toBeLessThan(0.5);
  }, 120_000);
});
