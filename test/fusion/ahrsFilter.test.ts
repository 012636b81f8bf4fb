import AHRS from "ahrs";
import { describe, expect, it } from "vitest";
import { AhrsFilter } from "../../edge/fusion/ahrsFilter.js";

const G = 9.80665;

/** Rotate sensor-frame vector v to the earth frame with q = (w, x, y, z). */
function rotate(q: ArrayLike<number>, v: [number, number, number]): [number, number, number] {
  const w = q[0]!, x = q[1]!, y = q[2]!, z = q[3]!;
  const [a, b, c] = v;
  return [
    (1 - 2 * (y * y + z * z)) * a + 2 * (x * y - w * z) * b + 2 * (x * z + w * y) * c,
    2 * (x * y + w * z) * a + (1 - 2 * (x * x + z * z)) * b + 2 * (y * z - w * x) * c,
    2 * (x * z - w * y) * a + 2 * (y * z + w * x) * b + (1 - 2 * (x * x + y * y)) * c,
  ];
}

describe("npm ahrs 1.3.3 quirks the wrapper defuses", () => {
  it("the raw package goes NaN forever after an exactly-zero correction step", () => {
    const raw = new AHRS({ algorithm: "Madgwick", beta: 0.1, sampleInterval: 10 }) as unknown as {
      init(ax: number, ay: number, az: number, mx: number, my: number, mz: number): void;
      update(...args: number[]): void;
      getQuaternion(): { w: number; x: number; y: number; z: number };
    };
    raw.init(0, 0, 9.81, 0, 0, 0); // identity attitude
    raw.update(0, 0, 0, 0, 0, 9.81, 0, 0, 0, 0.01); // accel exactly along the estimate
    expect(Number.isNaN(raw.getQuaternion().w)).toBe(true);
    raw.update(0.1, 0.2, 0.3, 1, 2, 9, 0, 0, 0, 0.01); // any later sample: still NaN
    expect(Number.isNaN(raw.getQuaternion().w)).toBe(true);
  });

  it("the raw package reads sampleInterval as milliseconds", () => {
    // Seconds (0.01) passed where milliseconds are expected: steps 1000x too small.
    const raw = new AHRS({ algorithm: "Madgwick", beta: 0.1, sampleInterval: 0.01 });
    raw.update(0, 0, 1, 0.1, 0, 9.81);
    // one 10 ms step at 1 rad/s should turn 0.01 rad
    expect(raw.getEulerAngles().heading).toBeCloseTo(1e-5, 7);
  });
});

describe("AhrsFilter", () => {
  it("does not go NaN where the package would: a zero gradient becomes a pure gyro step", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    f.update(0, 0, 9.81, 0, 0, 0); // first sample: init only (identity attitude)
    f.update(0, 0, 9.81, 0, 0, 1); // exactly aligned: the package's correction step is 0/0
    expect(Array.from(f.q).every(Number.isFinite)).toBe(true);
    expect(f.zeroCorrections).toBe(1);
    expect(f.resets).toBe(0);
    expect(f.headingRad()).toBeCloseTo(0.01, 6); // the gyro step was kept, not thrown away
    f.update(0.5, 0, 9.8, 0.1, 0, 0);
    expect(Array.from(f.q).every(Number.isFinite)).toBe(true);
  });

  it("re-initialises from the accelerometer when an input is not finite", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    f.update(0.3, 0, 9.8, 0, 0, 0);
    f.update(0.3, 0, 9.8, Number.NaN, 0, 0);
    expect(f.resets).toBe(1);
    expect(Array.from(f.q).every(Number.isFinite)).toBe(true);
  });

  it("integrates with dt in seconds: 1 rad/s about z for 1 s at 100 Hz gives ~1 rad of heading", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    // slightly tilted so the correction step is never exactly zero
    for (let k = 0; k <= 100; k++) f.update(0.2, 0, G, 0, 0, 1); // sample 0 initialises, 100 steps integrate
    expect(f.resets).toBe(0);
    expect(f.headingRad()).toBeCloseTo(1.0, 2);
  });

  it("initialises the attitude from gravity on the first sample", () => {
    for (const acc of [[0, G, 0], [3, -4, 8], [-G, 0.5, 0.1]] as [number, number, number][]) {
      const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
      f.update(acc[0], acc[1], acc[2], 0, 0, 0);
      const n = Math.hypot(...acc);
      const up = rotate(f.q, [acc[0] / n, acc[1] / n, acc[2] / n]);
      expect(up[0]).toBeCloseTo(0, 2);
      expect(up[1]).toBeCloseTo(0, 2);
      expect(up[2]).toBeCloseTo(1, 2);
    }
  });

  it("only initialises from the first sample, then integrates every later one", () => {
    const b = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    b.update(0.2, 0, G, 0, 0, 1);
    expect(b.headingRad()).toBeCloseTo(0, 12);
    b.update(0.2, 0, G, 0, 0, 1);
    expect(b.headingRad()).toBeCloseTo(0.01, 4);
  });

  it("resetHeading changes the reported heading only, never the quaternion", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    for (let k = 0; k <= 50; k++) f.update(0.2, 0, G, 0, 0, 1);
    const before = Array.from(f.q);
    expect(f.headingRad()).toBeCloseTo(0.5, 2);
    f.resetHeading();
    expect(f.headingRad()).toBeCloseTo(0, 12);
    expect(Array.from(f.q)).toEqual(before);
    for (let k = 0; k < 50; k++) f.update(0.2, 0, G, 0, 0, 1);
    expect(f.headingRad()).toBeCloseTo(0.5, 2);
  });

  it("reset() makes the next sample initialise from gravity again", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    for (let k = 0; k <= 100; k++) f.update(0.2, 0, G, 0, 0, 1); // sample 0 initialises, 100 steps integrate
    f.reset();
    expect(f.isStarted).toBe(false);
    f.update(0.2, 0, G, 0, 0, 0);
    expect(f.headingRad()).toBeCloseTo(0, 6);
  });

  it("recovers from a non-finite accelerometer instead of staying NaN", () => {
    const f = new AhrsFilter({ beta: 0.1, dtS: 0.01 });
    f.update(0.2, 0, G, 0, 0, 0);
    f.update(Number.NaN, 0, G, 0, 0, 0);
    expect(Array.from(f.q).every(Number.isFinite)).toBe(true);
    f.update(0.2, 0, G, 0, 0, 0);
    expect(Array.from(f.q).every(Number.isFinite)).toBe(true);
  });
});
