import { describe, expect, it } from "vitest";
import { describeMetrics, describeOta, describeStatus, flattenStatus, formatAge, formatDeg } from "../../web/dashboard/lib/format.js";

describe("panel text", () => {
  it("says how long ago", () => {
    expect(formatAge(10_000, 10_500)).toBe("just now");
    expect(formatAge(0, 12_000)).toBe("12 s ago");
    expect(formatAge(0, 5 * 60_000)).toBe("5 min ago");
    expect(formatAge(0, 3 * 3_600_000)).toBe("3 h ago");
    expect(describeStatus({ state: "degraded", reason: "w1: calcn_r silent", since: 0 }, 2000)).toBe("degraded: w1: calcn_r silent (since 2 s ago)");
  });

  it("shows OTA progress only while an update moves, and why one failed", () => {
    const base = { installed_version: "1.0.0", offered_version: "1.0.1", reason: null, code: null, transfer_id: "t", since: 0 };
    expect(describeOta({ ...base, state: "downloading", progress: 0.25 })).toEqual({ headline: "downloading 25%: 1.0.0 -> 1.0.1", detail: "", progress: 0.25 });
    const failed = describeOta({ ...base, state: "rolled_back", progress: 1, reason: "self test failed", code: "self_test_failed" });
    expect(failed).toEqual({ headline: "rolled back: 1.0.0 -> 1.0.1", detail: "self_test_failed: self test failed", progress: undefined });
  });

  it("lists a stride's metrics with their units", () => {
    const stride = { wearer: "default", placement: "calcn_r", startUs: 0, endUs: 1_150_000, strideTimeS: 1.15, cadenceSpm: 104.35, stancePct: 61.23, romDeg: { knee_flexion_r: 58.04 } };
    expect(describeMetrics(stride)).toEqual([
      { name: "foot", value: "calcn_r (default)" },
      { name: "cadence", value: "104.3 steps/min" },
      { name: "stride time", value: "1.15 s" },
      { name: "stance", value: "61.2 %" },
      { name: "knee flexion r range", value: "58.0 deg" },
    ]);
  });

  it("flattens any get_status shape into rows, a gyro bias on one row", () => {
    const rows = flattenStatus({ pipelines: { w1: { published: 12, gyroBias: { femur_r: [0.02, -0.01, 0.005] } } }, unroutedSensors: [], status: { state: "online" } });
    expect(rows).toEqual([
      { path: "pipelines.w1.published", value: "12" },
      { path: "pipelines.w1.gyroBias.femur_r", value: "[0.020, -0.010, 5.00e-3]" },
      { path: "unroutedSensors", value: "[]" },
      { path: "status.state", value: "online" },
    ]);
    expect(flattenStatus({ a: Array.from({ length: 500 }, (_, i) => ({ i })) }, 10)).toHaveLength(10);
  });

  it("formats degrees with a sign", () => {
    expect(formatDeg(12.34)).toBe("+12.3°");
    expect(formatDeg(-3.26)).toBe("-3.3°");
    expect(formatDeg(-0.04)).toBe("+0.0°");
    expect(formatDeg(undefined)).toBe("--");
  });
});
