/**
 * Sagittal stick figure of one leg from three joint angles. Pure geometry, no
 * DOM: the view only scales and draws the points.
 *
 * Frame: x forward (the wearer faces +x), y up, hip at the origin, lengths as
 * fractions of body height (Winter's segment proportions: thigh 0.245 H,
 * shank 0.246 H, foot 0.152 H, ankle height 0.039 H).
 *
 * Sign conventions are the contract's (docs/contract.md "Sign conventions"):
 *   hip_flexion_r > 0         thigh swings forward of vertical
 *   knee_flexion_r > 0        shank folds back relative to the thigh
 *   ankle_dorsiflexion_r > 0  toes come up towards the shank (foot is at 90°
 *                             to the shank at 0)
 * The pelvis is drawn upright: the model gives joint angles, not the pelvis's
 * tilt in the room, so the figure shows the leg relative to the pelvis.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface LegAngles {
  readonly hipFlexionDeg: number;
  readonly kneeFlexionDeg: number;
  readonly ankleDorsiflexionDeg: number;
}

export interface LegPose {
  readonly hip: Point;
  readonly knee: Point;
  readonly ankle: Point;
  readonly heel: Point;
  readonly toe: Point;
}

export const SEGMENTS = { thigh: 0.245, shank: 0.246, foot: 0.152, ankleHeight: 0.039 } as const;
/** Share of the foot's length behind the ankle (heel) vs in front (toe). */
const HEEL_SHARE = 0.25;

const RAD = Math.PI / 180;

/**
 * Direction of a segment whose angle from "straight down" is `psi` radians,
 * positive towards forward (+x): psi = 0 is (0, -1), psi = 90° is (1, 0).
 */
function down(psi: number): Point {
  return { x: Math.sin(psi), y: -Math.cos(psi) };
}

function add(p: Point, d: Point, length: number): Point {
  return { x: p.x + d.x * length, y: p.y + d.y * length };
}

export function legPose(angles: LegAngles, segments: typeof SEGMENTS = SEGMENTS): LegPose {
  const thighPsi = angles.hipFlexionDeg * RAD;
  // Knee flexion folds the shank back from the thigh's line.
  const shankPsi = thighPsi - angles.kneeFlexionDeg * RAD;
  // At 0° dorsiflexion the foot points 90° forward of the shank; dorsiflexion
  // rotates it further the same way (toes up), plantarflexion the other way.
  const footPsi = shankPsi + (90 + angles.ankleDorsiflexionDeg) * RAD;

  const hip: Point = { x: 0, y: 0 };
  const shankDir = down(shankPsi);
  const footDir = down(footPsi);
  const knee = add(hip, down(thighPsi), segments.thigh);
  const ankle = add(knee, shankDir, segments.shank);
  // The sole runs below the ankle joint, along the foot's direction.
  const sole = add(ankle, shankDir, segments.ankleHeight);
  const heel = add(sole, footDir, -HEEL_SHARE * segments.foot);
  const toe = add(sole, footDir, (1 - HEEL_SHARE) * segments.foot);
  return { hip, knee, ankle, heel, toe };
}

/** A pose with any non-finite angle is not drawable: keep the last good one instead. */
export function isFiniteAngles(a: LegAngles): boolean {
  return Number.isFinite(a.hipFlexionDeg) && Number.isFinite(a.kneeFlexionDeg) && Number.isFinite(a.ankleDorsiflexionDeg);
}
