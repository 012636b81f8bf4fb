/**
 * A seeded, deterministic generator of plausible level-walking IMU signals for
 * many wearers. It is for demos, soak tests and the load benchmark, not for
 * accuracy: each segment swings in the sagittal plane with a smooth periodic
 * angle profile, and the sensors read what a rigid body moving that way reads.
 *
 * Pure: `sample(stream, k)` depends only on the options and (stream, k), so a
 * real-time and a fast run of the same seed produce identical samples, in any
 * order, with no per-sample allocation.
 *
 * Sensor mountings (all sensor frames right-handed; F forward, U up, R right):
 * - femur (Camargo's thigh mounting): x points DOWN along the
 *   segment, y forward, z lateral (R on the right leg). Standing still, x reads
 *   -9.81 m/s² and flexion is a positive rotation about z.
 * - calcn (top of the foot): x forward (toes), y left (medio-lateral), z up.
 *   Standing flat, z reads +9.81; toes-up pitch is a negative rotation about y.
 * Left-side placements are the mirror image, half a stride out of phase:
 * femur_l has x down, z lateral (the person's left) and so y
 * BACKWARD; calcn_l has the same axes as calcn_r (its y is now lateral).
 */

/** Thigh and foot of either leg; the shank is not simulated (see docs/ble-dot.md). */
export const SIM_PLACEMENTS = ["femur_r", "femur_l", "calcn_r", "calcn_l"] as const;
export type SimPlacement = (typeof SIM_PLACEMENTS)[number];

export interface GaitSimulatorOptions {
  readonly wearers: number;
  readonly placements: readonly SimPlacement[];
  readonly rateHz: number;
  /** Strides per second (one stride = two steps); about 1 Hz for normal walking. */
  readonly strideHz: number;
  readonly seed: number;
  /** Standard deviation of white noise: acc m/s², gyro rad/s. */
  readonly accNoise: number;
  readonly gyroNoise: number;
}

/** One simulated IMU: wearer (0-based), placement and that wearer's stride rate. */
export interface SimStream {
  readonly wearer: number;
  readonly placement: SimPlacement;
  readonly strideHz: number;
}

const G = 9.80665;
const TWO_PI = 2 * Math.PI;
const DEG = Math.PI / 180;
/** Hip to thigh sensor, m. */
const THIGH_SENSOR_M = 0.25;

/** Foot pitch (deg, toes up +): heel strike, foot flat, push-off, swing. */
const FOOT_PITCH_DEG = periodicProfile(
  [
    [0, 15],
    [0.08, 0],
    [0.42, 0],
    [0.62, -50],
    [0.85, 15],
    [1, 15],
  ],
  6,
);

type Segment = "thigh" | "foot";

interface StreamParams {
  readonly segment: Segment;
  /** +1 right leg, -1 left leg (mirrors the lateral axes). */
  readonly side: 1 | -1;
  readonly phase0: number;
  readonly strideHz: number;
  /** Scales the angle excursions: people differ. */
  readonly amplitude: number;
  readonly noiseKey: number;
  /** Small constant gyro bias per axis, rad/s, like a real MEMS gyro. */
  readonly biasX: number;
  readonly biasY: number;
  readonly biasZ: number;
}

export class GaitSimulator {
  readonly streams: readonly SimStream[];
  private readonly params: readonly StreamParams[];
  /** Profile output [value, d/ds, d²/ds²], reused: no allocation per sample. */
  private readonly kf = new Float64Array(3);

  constructor(private readonly options: GaitSimulatorOptions) {
    if (!(options.rateHz > 0) || !(options.strideHz > 0)) {
      throw new Error(`gait simulator: rateHz and strideHz must be > 0 (got ${options.rateHz}, ${options.strideHz})`);
    }
    const streams: SimStream[] = [];
    const params: StreamParams[] = [];
    const seed = options.seed | 0;
    for (let wearer = 0; wearer < options.wearers; wearer++) {
      // Per-wearer traits from the seed: cadence ±6 %, range of motion ±10 %, where in the stride they start.
      const strideHz = options.strideHz * (1 + 0.12 * (uniform(seed, wearer, 0, 1) - 0.5));
      const amplitude = 0.9 + 0.2 * uniform(seed, wearer, 0, 2);
      const phase0 = uniform(seed, wearer, 0, 3);
      for (const placement of options.placements) {
        const segment: Segment = placement.startsWith("femur") ? "thigh" : "foot";
        const side = placement.endsWith("_l") ? -1 : 1;
        const noiseKey = mix(mix(seed, wearer + 1), streams.length + 0x51);
        streams.push({ wearer, placement, strideHz });
        params.push({
          segment,
          side,
          phase0: side === 1 ? phase0 : phase0 + 0.5,
          strideHz,
          amplitude,
          noiseKey,
          biasX: 0.01 * (uniform(noiseKey, 1, 0, 4) - 0.5),
          biasY: 0.01 * (uniform(noiseKey, 2, 0, 4) - 0.5),
          biasZ: 0.01 * (uniform(noiseKey, 3, 0, 4) - 0.5),
        });
      }
    }
    this.streams = streams;
    this.params = params;
  }

  /** Grid sample k's timestamp in µs (the simulator's device clock starts at 0). */
  timestampUs(k: number): number {
    return Math.round((k * 1e6) / this.options.rateHz);
  }

  /**
   * Writes stream `index`'s reading at grid sample `k` into `out`:
   * acc x, y, z (m/s², gravity included) then gyro x, y, z (rad/s).
   */
  sample(index: number, k: number, out: Float64Array, offset = 0): void {
    const p = this.params[index];
    if (!p) throw new RangeError(`gait simulator: no stream ${index} (have ${this.params.length})`);
    const t = k / this.options.rateHz;
    const cycles = p.phase0 + p.strideHz * t;
    const s = cycles - Math.floor(cycles);
    const f = p.strideHz;
    const f2 = f * f;
    const amp = p.amplitude;

    let ax: number, ay: number, az: number, gx: number, gy: number, gz: number;
    if (p.segment === "foot") {
      FOOT_PITCH_DEG.evaluate(s, this.kf);
      const pitch = amp * this.kf[0]! * DEG;
      const pitchRate = amp * this.kf[1]! * DEG * f;
      // The foot is still in stance and is carried forward in swing (s >= 0.6).
      let fwd = 0;
      let up = 0;
      if (s >= 0.6) {
        const u = (s - 0.6) / 0.4;
        fwd = 12 * f2 * Math.sin(TWO_PI * u);
        up = 4 * f2 * Math.sin(2 * TWO_PI * u);
      }
      const c = Math.cos(pitch);
      const sn = Math.sin(pitch);
      ax = fwd * c + (up + G) * sn;
      ay = 0.3 * Math.sin(TWO_PI * s);
      az = -fwd * sn + (up + G) * c;
      gx = 0.2 * Math.sin(TWO_PI * s + 1);
      gy = -pitchRate;
      gz = 0.3 * Math.sin(TWO_PI * s + 2);
    } else {
      // Thigh angle from vertical (= hip flexion with an upright pelvis), rad, and its time derivatives.
      const a1 = 25 * DEG * amp;
      const a2 = 4 * DEG * amp;
      const w1 = TWO_PI * s;
      const w2 = 2 * TWO_PI * s + 0.5;
      const thigh = 6 * DEG + a1 * Math.cos(w1) + a2 * Math.cos(w2);
      const thighRate = (-TWO_PI * a1 * Math.sin(w1) - 2 * TWO_PI * a2 * Math.sin(w2)) * f;
      const thighAcc = (-TWO_PI * TWO_PI * a1 * Math.cos(w1) - 4 * TWO_PI * TWO_PI * a2 * Math.cos(w2)) * f2;
      // The pelvis bounces twice per stride; gravity and bounce project onto the tilted segment.
      const up = G + 1.5 * f2 * Math.cos(2 * TWO_PI * s);
      // A point r down a segment rotating about its top reads (-r ω², r α) in its (x, y).
      ax = -THIGH_SENSOR_M * thighRate * thighRate - up * Math.cos(thigh);
      ay = THIGH_SENSOR_M * thighAcc + up * Math.sin(thigh);
      az = 0.4 * Math.sin(TWO_PI * s);
      gx = 0.3 * Math.sin(TWO_PI * s + 1);
      gy = 0.2 * Math.sin(2 * TWO_PI * s);
      gz = thighRate;
    }

    // Mirror image for the left leg: a reflection flips the lateral component
    // of vectors (acc) and the other two of pseudovectors (gyro); with the
    // mountings above that is (x, -y, z) for acc and (-x, y, -z) for gyro.
    if (p.side === -1) {
      ay = -ay;
      gx = -gx;
      gz = -gz;
    }

    const an = this.options.accNoise;
    const gn = this.options.gyroNoise;
    const key = p.noiseKey;
    out[offset] = ax + an * gaussian(key, k, 0);
    out[offset + 1] = ay + an * gaussian(key, k, 1);
    out[offset + 2] = az + an * gaussian(key, k, 2);
    out[offset + 3] = gx + p.biasX + gn * gaussian(key, k, 3);
    out[offset + 4] = gy + p.biasY + gn * gaussian(key, k, 4);
    out[offset + 5] = gz + p.biasZ + gn * gaussian(key, k, 5);
  }

}

/** A periodic function of the gait phase s in [0, 1) with analytic derivatives. */
interface PeriodicProfile {
  /** Writes value, d/ds and d²/ds² at phase s into out[0..2]. */
  evaluate(s: number, out: Float64Array): void;
}

/**
 * Fits the first `harmonics` Fourier terms to a curve through (phase, value)
 * keyframes (linear in between). Done once at module load; evaluating is a few
 * sin/cos and the derivatives are exact for the fitted curve.
 */
function periodicProfile(points: ReadonlyArray<readonly [number, number]>, harmonics: number): PeriodicProfile {
  const n = 512;
  const curve = new Float64Array(n);
  for (let j = 0, seg = 0; j < n; j++) {
    const s = j / n;
    while (seg + 2 < points.length && points[seg + 1]![0] <= s) seg++;
    const [s0, v0] = points[seg]!;
    const [s1, v1] = points[seg + 1]!;
    curve[j] = v0 + ((v1 - v0) * (s - s0)) / (s1 - s0);
  }
  const a = new Float64Array(harmonics + 1);
  const b = new Float64Array(harmonics + 1);
  for (let h = 0; h <= harmonics; h++) {
    let sa = 0;
    let sb = 0;
    for (let j = 0; j < n; j++) {
      sa += curve[j]! * Math.cos((TWO_PI * h * j) / n);
      sb += curve[j]! * Math.sin((TWO_PI * h * j) / n);
    }
    a[h] = ((h === 0 ? 1 : 2) * sa) / n;
    b[h] = (2 * sb) / n;
  }
  return {
    evaluate(s: number, out: Float64Array): void {
      let v = a[0]!;
      let d1 = 0;
      let d2 = 0;
      for (let h = 1; h <= harmonics; h++) {
        const w = TWO_PI * h;
        const c = Math.cos(w * s);
        const sn = Math.sin(w * s);
        const ah = a[h]!;
        const bh = b[h]!;
        v += ah * c + bh * sn;
        d1 += w * (bh * c - ah * sn);
        d2 -= w * w * (ah * c + bh * sn);
      }
      out[0] = v;
      out[1] = d1;
      out[2] = d2;
    },
  };
}

/** murmur3's 32-bit finaliser over a combined key: a cheap, well-mixed counter-based hash. */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Uniform in (0, 1) from (key, k, axis, draw): the same inputs always give the same number. */
function uniform(key: number, k: number, axis: number, draw: number): number {
  const h = mix(mix(mix(key, k), axis), draw) >>> 0;
  return (h + 0.5) / 4294967296;
}

/** Standard normal by Box-Muller from two counter-based uniforms. */
function gaussian(key: number, k: number, axis: number): number {
  const u1 = uniform(key, k, axis, 7);
  const u2 = uniform(key, k, axis, 11);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
}
