/**
 * A seeded, deterministic generator of plausible level-walking IMU signals for
 * many wearers. It is for demos, soak tests and the load benchmark, not for
 * accuracy. Each segment is a rigid body with a smooth periodic pose (a
 * sagittal angle, a small rotation about its long axis, a path for the sensor
 * point) and each sensor reads exactly what a right-handed IMU on that body
 * reads: gyro = the body's angular velocity, acc = its specific force
 * (acceleration minus gravity), both in the sensor's axes. That is what the
 * edge's mounting calibration (edge/calibration/) checks and relies on, so
 * every simulated placement calibrates, right-handed, to its mounting below
 * (turned by the segment's walking-mean tilt, which the calibration takes as
 * "up" by definition; docs/ble-dot.md has the figures).
 *
 * Pure: `sample(stream, k)` depends only on the options and (stream, k), so a
 * real-time and a fast run of the same seed produce identical samples, in any
 * order, with no per-sample allocation.
 *
 * Frames. World: X forward (walking direction), Y up, Z to the right.
 * Segment (OpenSim body frames, as in docs/calibration.md): x anterior, y up
 * along the segment, z to the right, for BOTH legs, so flexion (thigh) and
 * toes-up pitch (foot) are positive rotations about z on either side. The
 * left leg moves as the mirror image of the right (same sagittal angle, long
 * axis rotation and lateral motion negated), half a stride later.
 *
 * Sensor mountings (`SIM_MOUNTINGS`; all right-handed):
 * - femur (Camargo's thigh mounting): x points DOWN along the segment, y
 *   forward, z lateral (the person's right on the right leg); on the left leg
 *   x down, z lateral (left) and so y BACKWARD. Standing still, x reads
 *   -9.81 m/s²; flexion is a positive rotation about z on the right leg and a
 *   negative one on the left.
 * - calcn (top of the foot): x forward (toes), y left, z up, on both feet.
 *   Standing flat, z reads +9.81; toes-up pitch is a negative rotation about y.
 */

/** Thigh and foot of either leg; the shank is not simulated (see docs/ble-dot.md). */
export const SIM_PLACEMENTS = ["femur_r", "femur_l", "calcn_r", "calcn_l"] as const;
export type SimPlacement = (typeof SIM_PLACEMENTS)[number];

/** Rows: the segment's x (anterior), y (up), z (right) in sensor axes (the calibration's C: v_segment = C v_sensor). */
export type SimMounting = readonly [readonly [number, number, number], readonly [number, number, number], readonly [number, number, number]];

/** How each placement's sensor is strapped on (module comment); a calibration on its stream should find this. */
export const SIM_MOUNTINGS: Readonly<Record<SimPlacement, SimMounting>> = {
  femur_r: [[0, 1, 0], [-1, 0, 0], [0, 0, 1]],
  femur_l: [[0, -1, 0], [-1, 0, 0], [0, 0, -1]],
  calcn_r: [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
  calcn_l: [[1, 0, 0], [0, 0, 1], [0, -1, 0]],
};

export interface GaitSimulatorOptions {
  readonly wearers: number;
  /**
   * The first wearer's number (from 0; default 0): wearers firstWearer ..
   * firstWearer + wearers - 1 are simulated. Wearer w is the same stream in
   * any simulator of the same seed, so a fleet can be played in parts.
   */
  readonly firstWearer?: number;
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
/** Pelvis (and so hip) path: bounce twice per stride, sway once, m. */
const HIP_BOUNCE_M = 0.02;
const HIP_SWAY_M = 0.02;
/** Swing: the foot travels one stride length (m, before the wearer's amplitude), clears the ground and swings out. */
const STRIDE_LENGTH_M = 1.3;
const FOOT_CLEARANCE_M = 0.08;
const FOOT_OUTWARD_M = 0.02;
/**
 * Stride phase at which the foot starts to travel: heel-off, as the push-off
 * pitch begins (toe-off follows at about 0.6). Travelling from heel-off to
 * heel strike keeps the forward acceleration near what feet read (peak about
 * 25 m/s²; 47 if the whole stride length were covered in the swing alone).
 */
const FOOT_TRAVEL_FROM = 0.45;
/** Rotation about the long axis, amplitude: thigh (internal/external rotation), foot (inversion/eversion). */
const THIGH_TWIST_DEG = 3;
const FOOT_ROLL_DEG = 2;

/**
 * Thigh angle from vertical (deg, flexion +), which is hip flexion plus the
 * pelvis's forward tilt: flexed at heel strike, extending slowly through
 * stance, flexing fast in swing. That time asymmetry is real (and is what the
 * calibration's sign rule reads; a cosine, the previous profile, is
 * symmetric and left the sign to chance).
 */
const THIGH_ANGLE_DEG = periodicProfile(
  [
    [0, 24],
    [0.55, -16],
    [0.85, 27],
    [1, 24],
  ],
  6,
);

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
  /** +1 right leg, -1 left leg (mirrors the lateral motion and the long-axis rotation). */
  readonly side: 1 | -1;
  readonly phase0: number;
  readonly strideHz: number;
  /** Scales the angle excursions and the stride length: people differ. */
  readonly amplitude: number;
  /** The mounting, transposed and flattened row-major: v_sensor = M v_segment. */
  readonly mount: Float64Array;
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
  /** Segment-frame reading [f x, y, z, w x, y, z], reused. */
  private readonly seg = new Float64Array(6);

  constructor(private readonly options: GaitSimulatorOptions) {
    if (!(options.rateHz > 0) || !(options.strideHz > 0)) {
      throw new Error(`gait simulator: rateHz and strideHz must be > 0 (got ${options.rateHz}, ${options.strideHz})`);
    }
    const streams: SimStream[] = [];
    const params: StreamParams[] = [];
    const seed = options.seed | 0;
    const first = options.firstWearer ?? 0;
    for (let wearer = first; wearer < first + options.wearers; wearer++) {
      // Per-wearer traits from the seed: cadence ±6 %, range of motion ±10 %, where in the stride they start.
      const strideHz = options.strideHz * (1 + 0.12 * (uniform(seed, wearer, 0, 1) - 0.5));
      const amplitude = 0.9 + 0.2 * uniform(seed, wearer, 0, 2);
      const phase0 = uniform(seed, wearer, 0, 3);
      for (const [p, placement] of options.placements.entries()) {
        const segment: Segment = placement.startsWith("femur") ? "thigh" : "foot";
        const side = placement.endsWith("_l") ? -1 : 1;
        // The stream's number as if the simulator began at wearer 0: its noise does not depend on firstWearer.
        const noiseKey = mix(mix(seed, wearer + 1), wearer * options.placements.length + p + 0x51);
        const C = SIM_MOUNTINGS[placement];
        streams.push({ wearer, placement, strideHz });
        params.push({
          segment,
          side,
          phase0: side === 1 ? phase0 : phase0 + 0.5,
          strideHz,
          amplitude,
          mount: Float64Array.from([0, 1, 2].flatMap((i) => [C[0][i], C[1][i], C[2][i]])),
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
    const side = p.side;

    // The pose's sagittal angle and its rates (per second), and the sensor point's world acceleration.
    let angle: number, rate: number, twist: number, twistRate: number;
    let accX: number, accY: number, accZ: number;
    if (p.segment === "foot") {
      FOOT_PITCH_DEG.evaluate(s, this.kf);
      angle = amp * this.kf[0]! * DEG;
      rate = amp * this.kf[1]! * DEG * f;
      twist = side * FOOT_ROLL_DEG * DEG * Math.sin(TWO_PI * s + 1);
      twistRate = side * FOOT_ROLL_DEG * DEG * TWO_PI * f * Math.cos(TWO_PI * s + 1);
      // On the ground (pitching about the sensor point) until heel-off; then it
      // travels one stride forward, lifts and swings out, each along a path
      // whose velocity and acceleration are zero at both ends (a foot that
      // stands still, then lands still, once per stride).
      accX = 0;
      accY = 0;
      accZ = 0;
      if (s >= FOOT_TRAVEL_FROM) {
        const u = (s - FOOT_TRAVEL_FROM) / (1 - FOOT_TRAVEL_FROM);
        const perU2 = (f / (1 - FOOT_TRAVEL_FROM)) ** 2; // (du/dt)²
        accX = amp * STRIDE_LENGTH_M * perU2 * minimumJerkAcc(u);
        const bump = perU2 * bumpAcc(u);
        accY = FOOT_CLEARANCE_M * bump;
        accZ = side * FOOT_OUTWARD_M * bump;
      }
    } else {
      THIGH_ANGLE_DEG.evaluate(s, this.kf);
      angle = amp * this.kf[0]! * DEG;
      rate = amp * this.kf[1]! * DEG * f;
      const angleAcc = amp * this.kf[2]! * DEG * f2;
      twist = side * THIGH_TWIST_DEG * DEG * Math.sin(TWO_PI * s + 1);
      twistRate = side * THIGH_TWIST_DEG * DEG * TWO_PI * f * Math.cos(TWO_PI * s + 1);
      // The hip moves forward at a steady speed (no acceleration), bounces twice
      // per stride and sways once (one pelvis: the left leg's half-stride shift
      // and mirror give the same sway). The sensor, r down the thigh from the
      // hip, is at hip + r (sin a, -cos a, 0); twisting about the thigh's long
      // axis does not move it.
      const c = Math.cos(angle);
      const sn = Math.sin(angle);
      const w2 = 2 * TWO_PI * f;
      accX = THIGH_SENSOR_M * (angleAcc * c - rate * rate * sn);
      accY = -HIP_BOUNCE_M * w2 * w2 * Math.cos(2 * TWO_PI * s) + THIGH_SENSOR_M * (angleAcc * sn + rate * rate * c);
      accZ = -side * HIP_SWAY_M * (TWO_PI * f) ** 2 * Math.sin(TWO_PI * s);
    }
    bodyReading(angle, rate, twist, twistRate, p.segment === "foot" ? "x" : "y", accX, accY, accZ, this.seg);

    // Into the sensor's axes, then the sensor's own errors.
    const m = p.mount;
    const sg = this.seg;
    const an = this.options.accNoise;
    const gn = this.options.gyroNoise;
    const key = p.noiseKey;
    for (let i = 0; i < 3; i++) {
      const acc = m[3 * i]! * sg[0]! + m[3 * i + 1]! * sg[1]! + m[3 * i + 2]! * sg[2]!;
      const gyro = m[3 * i]! * sg[3]! + m[3 * i + 1]! * sg[4]! + m[3 * i + 2]! * sg[5]!;
      out[offset + i] = acc + an * gaussian(key, k, i);
      out[offset + 3 + i] = gyro + (i === 0 ? p.biasX : i === 1 ? p.biasY : p.biasZ) + gn * gaussian(key, k, 3 + i);
    }
  }
}

/**
 * What an IMU aligned with the segment frame reads on a body with world pose
 * R = Rz(angle) · Rk(twist) (k the segment's long axis: "y" the thigh, "x" the
 * foot) whose sensor point accelerates by (accX, accY, accZ) in the world:
 * specific force Rᵀ (a + g·Y) and body angular velocity Rkᵀ (angle' z) + twist' k
 * (from Rᵀ dR/dt), into out[0..5].
 */
function bodyReading(
  angle: number, rate: number, twist: number, twistRate: number, axis: "x" | "y",
  accX: number, accY: number, accZ: number, out: Float64Array,
): void {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const ct = Math.cos(twist);
  const st = Math.sin(twist);
  // Rz(angle)ᵀ (a + g·Y).
  const w0 = c * accX + s * (accY + G);
  const w1 = -s * accX + c * (accY + G);
  const w2 = accZ;
  if (axis === "x") {
    out[0] = w0;
    out[1] = ct * w1 + st * w2;
    out[2] = -st * w1 + ct * w2;
    out[3] = twistRate;
    out[4] = rate * st;
    out[5] = rate * ct;
  } else {
    out[0] = ct * w0 - st * w2;
    out[1] = w1;
    out[2] = st * w0 + ct * w2;
    out[3] = -rate * st;
    out[4] = twistRate;
    out[5] = rate * ct;
  }
}

/** d²/du² of the minimum-jerk path 10u³ - 15u⁴ + 6u⁵ (0 to 1, at rest at both ends). */
function minimumJerkAcc(u: number): number {
  return 60 * u - 180 * u * u + 120 * u * u * u;
}

/** d²/du² of the bump 64 u³ (1 - u)³ (0 at both ends, 1 at u = 0.5, at rest at both ends). */
function bumpAcc(u: number): number {
  const v = 1 - u;
  return 64 * (6 * u * v * v * v - 18 * u * u * v * v + 6 * u * u * u * v);
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
