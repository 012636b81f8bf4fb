/**
 * A synthetic leg for the joint thigh+foot sign rule (docs/calibration.md):
 * the calibration golden vectors' legs (training/gaitlstm/mounting/golden.py,
 * `leg_streams`) at any length, as routed samples at 100 Hz. Pure rotations
 * about the segment's z (acc = gravity turned by the angle): a thigh whose
 * sinusoidal swing has no arrow of time (its own sign margin is ~0), and a
 * foot with a clear one whose swing follows the thigh's by `footDelayS`
 * (0.2 s: decided jointly; 0.475 s, a quarter stride more: uncertain jointly
 * too). Each sensor is strapped on turned by a fixed rotation.
 */
import type { Mat3, Vec3 } from "../../edge/calibration/index.js";
import type { RoutedSample } from "../../edge/core/events.js";

const G = 9.80665;
const OMEGA = (2 * Math.PI) / 1.1; // a 1.1 s stride

/** A rotation of `deg` about `axis` (Rodrigues). */
function axisAngle(axis: Vec3, deg: number): Mat3 {
  const n = Math.hypot(...axis);
  const [x, y, z] = [axis[0] / n, axis[1] / n, axis[2] / n];
  const c = Math.cos((deg * Math.PI) / 180), s = Math.sin((deg * Math.PI) / 180), C = 1 - c;
  return [
    [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
    [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
    [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
  ];
}

/** Sensor frames: v_sensor = Q v_segment. */
export const THIGH_MOUNT: Mat3 = axisAngle([0.3, -0.8, 0.5], 110);
const FOOT_MOUNT: Mat3 = axisAngle([-0.6, 0.2, 0.7], 150);

const turn = (Q: Mat3, v: Vec3): Vec3 => [
  Q[0][0] * v[0] + Q[0][1] * v[1] + Q[0][2] * v[2],
  Q[1][0] * v[0] + Q[1][1] * v[1] + Q[1][2] * v[2],
  Q[2][0] * v[0] + Q[2][1] * v[1] + Q[2][2] * v[2],
];
/** A rigid rotation by theta about the segment's z: the specific force is gravity turned back by theta. */
const rotating = (Q: Mat3, theta: number, rate: number): { acc: Vec3; gyro: Vec3 } => ({
  acc: turn(Q, [G * Math.sin(theta), G * Math.cos(theta), 0]),
  gyro: turn(Q, [0, 0, rate]),
});

/** The segment's z in the thigh sensor's frame: what a right calibration finds as its third row. */
export const THIGH_Z: Vec3 = [THIGH_MOUNT[0][2], THIGH_MOUNT[1][2], THIGH_MOUNT[2][2]];

export function legSamples(options: { seconds: number; footDelayS: number; wearer?: string }): RoutedSample[] {
  const wearer = options.wearer ?? "default";
  const out: RoutedSample[] = [];
  for (let k = 0; k < Math.round(options.seconds * 100); k++) {
    const t = k / 100;
    const tUs = k * 10_000;
    const thigh = rotating(THIGH_MOUNT, 0.35 * Math.sin(OMEGA * t), 0.35 * OMEGA * Math.cos(OMEGA * t));
    const u = OMEGA * (t - options.footDelayS);
    const foot = rotating(FOOT_MOUNT, 0.5 * Math.sin(u) + 0.2 * Math.cos(2 * u), OMEGA * (0.5 * Math.cos(u) - 0.4 * Math.sin(2 * u)));
    out.push({ wearer, placement: "femur_r", sample: { sensorId: "thigh", tUs, ...thigh } });
    out.push({ wearer, placement: "calcn_r", sample: { sensorId: "foot", tUs, ...foot } });
  }
  return out;
}
