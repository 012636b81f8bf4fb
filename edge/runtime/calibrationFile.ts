/**
 * The last successful static calibration, kept across restarts.
 *
 * A gyro bias measured while the wearer stood still is worth keeping: after
 * a reboot in the field nobody may think of calibrating again, and the
 * previous bias is much closer to the truth than zero. The file holds one
 * bias per `<wearer>/<placement>` (where the sensor is worn, not which
 * sensor it is: a swapped sensor needs a new calibration). Each entry has
 * its own date, and the runtime logs every entry's age when it loads them.
 *
 * Since `gait-calibration/2` an entry may also hold the sensor's MOUNTING
 * calibration (the sensor->segment rotation found from walking,
 * docs/calibration.md), with its quality figures and its own date; either
 * part may be absent. `gait-calibration/1` files (gyro bias only) are still
 * read. The mounting is per `<wearer>/<placement>` too, for the same reason:
 * re-strapping or swapping a sensor invalidates it, which the runtime
 * detects from walking (`stillFits`, the pair check).
 *
 * Pure parsing and formatting here; the runtime does the file I/O.
 */
import { z } from "zod";

import type { StreamHandedness } from "../calibration/convert.js";
import { PLACEMENTS, type Placement } from "../contract/manifest.js";
import type { Vec3 } from "../sources/types.js";

export const CALIBRATION_FORMAT = "gait-calibration/2";
/**
 * The calibration algorithm of a mounting entry that names none: entries written
 * before mountings recorded their algorithm were all made by this one.
 */
export const LEGACY_MOUNTING_ALGORITHM = "gait-calibration/1";
/** Gyro bias only; still read. */
export const CALIBRATION_FORMAT_V1 = "gait-calibration/1";

const vec3 = z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]);
const finite = z.number().finite();

const mountingSchema = z.object({
  /** Sensor -> segment (v_segment = C v_sensor) as a unit quaternion, w first. */
  rotation: z
    .tuple([finite, finite, finite, finite])
    .refine((q) => Math.abs(Math.hypot(...q) - 1) < 1e-6, "must be a unit quaternion (w, x, y, z)"),
  quality: z
    .object({
      planarity: finite,
      signMargin: finite,
      strides: finite,
      strideS: finite,
      periodicity: finite,
      seconds: finite,
      handednessScore: finite.nullable(),
      /** Who decided the flexion axis's sign: "own" or "joint" (the foot of the same leg; gait-calibration/2). Absent in older files. */
      signSource: z.enum(["own", "joint"]).optional(),
      /** The thigh-foot lead-lag correlation on the chosen axis; null when no foot was there to compare. Absent in older files. */
      jointMargin: finite.nullable().optional(),
    })
    .loose(),
  savedAt: z.iso.datetime(),
  /** The sensor id that was calibrated (informational: the key is the placement). */
  sensorId: z.string().optional(),
  /**
   * The calibration algorithm that found the rotation (docs/calibration.md): a model
   * trained with another one must not use it (edge/ota/compatibility.ts, staleMountings).
   * Absent in older files: LEGACY_MOUNTING_ALGORITHM.
   */
  algorithm: z.string().regex(/^gait-calibration\/\d+$/).optional(),
  /**
   * "left": the sensor's stream was left-handed (a Z label flipped on acc and gyro) and is
   * converted before the rotation (acc Z and gyro Z negated, then `rotation`): the
   * sensor -> segment map is then improper, C · diag(1, 1, -1), which no quaternion holds.
   * Absent in older files: "right".
   */
  handedness: z.enum(["right", "left"]).optional(),
});

const v1Schema = z.object({
  format: z.literal(CALIBRATION_FORMAT_V1),
  sensors: z.record(z.string(), z.object({ gyroBias: vec3, savedAt: z.iso.datetime() }).loose()),
});
const v2Schema = z.object({
  format: z.literal(CALIBRATION_FORMAT),
  sensors: z.record(
    z.string(),
    z
      .object({ gyroBias: vec3.optional(), savedAt: z.iso.datetime().optional(), mounting: mountingSchema.optional() })
      .loose()
      .refine((e) => (e.gyroBias === undefined) === (e.savedAt === undefined), "gyroBias and savedAt come together"),
  ),
});
export type CalibrationFile = z.infer<typeof v2Schema>;
/** One sensor's entry, either format. */
interface Entry {
  readonly gyroBias?: readonly number[];
  readonly savedAt?: string;
  readonly mounting?: z.infer<typeof mountingSchema>;
}

export type MountingQuality = z.infer<typeof mountingSchema>["quality"];

export interface SavedMounting {
  readonly wearer: string;
  readonly placement: Placement;
  readonly rotation: readonly [number, number, number, number];
  readonly quality: MountingQuality;
  readonly savedAt: string;
  readonly sensorId?: string;
  /** Which calibration algorithm made it; absent: LEGACY_MOUNTING_ALGORITHM (see the schema). */
  readonly algorithm?: string;
  /** "left": the stream is converted (Z negated on acc and gyro) before `rotation`; absent: "right" (see the schema). */
  readonly handedness?: StreamHandedness;
}

export interface SavedBias {
  readonly wearer: string;
  readonly placement: Placement;
  readonly gyroBias: Vec3;
  /** When this sensor was calibrated (ISO 8601): entries not re-measured keep theirs. */
  readonly savedAt: string;
}

const keyOf = (b: { wearer: string; placement: string }): string => `${b.wearer}/${b.placement}`;

/** The gyro biases of a calibration file (see parseCalibrationFile). */
export function parseCalibration(text: string, file: string): SavedBias[] {
  return parseCalibrationFile(text, file).biases;
}

/** Parse a calibration file's text (either format); throws an Error naming `file` and the bad field. */
export function parseCalibrationFile(text: string, file: string): { biases: SavedBias[]; mountings: SavedMounting[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const format = (json as { format?: unknown } | null)?.format;
  if (format !== CALIBRATION_FORMAT && format !== CALIBRATION_FORMAT_V1) {
    throw new Error(`${file}: format: expected "${CALIBRATION_FORMAT}" or "${CALIBRATION_FORMAT_V1}", got ${JSON.stringify(format)}`);
  }
  // Validated against the schema the file claims, so the error names its field.
  const r = format === CALIBRATION_FORMAT_V1 ? v1Schema.safeParse(json) : v2Schema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new Error(`${file}: ${first.path.join(".") || "(root)"}: ${first.message}`);
  }
  const sensors: Readonly<Record<string, Entry>> = r.data.sensors;
  const biases: SavedBias[] = [];
  const mountings: SavedMounting[] = [];
  for (const [key, v] of Object.entries(sensors)) {
    // The placement never contains "/", a wearer name might: split at the last one.
    const cut = key.lastIndexOf("/");
    const wearer = key.slice(0, cut);
    const placement = key.slice(cut + 1);
    if (cut <= 0) throw new Error(`${file}: sensors.${key}: keys are <wearer>/<placement>`);
    if (!(PLACEMENTS as readonly string[]).includes(placement)) {
      throw new Error(`${file}: sensors.${key}: unknown placement "${placement}" (valid: ${PLACEMENTS.join(", ")})`);
    }
    const where = { wearer, placement: placement as Placement };
    if (v.gyroBias !== undefined && v.savedAt !== undefined) biases.push({ ...where, gyroBias: v.gyroBias as Vec3, savedAt: v.savedAt });
    const m = v.mounting;
    if (m !== undefined) {
      mountings.push({
        ...where, rotation: m.rotation, quality: m.quality, savedAt: m.savedAt,
        ...(m.sensorId !== undefined ? { sensorId: m.sensorId } : {}),
        ...(m.algorithm !== undefined ? { algorithm: m.algorithm } : {}),
        ...(m.handedness !== undefined ? { handedness: m.handedness } : {}),
      });
    }
  }
  return { biases, mountings };
}

/** The calibration after a new one: earlier entries are kept (with their dates) unless re-measured. */
export function mergeCalibration<T extends { wearer: string; placement: string }>(previous: readonly T[], measured: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const b of [...previous, ...measured]) byKey.set(keyOf(b), b);
  return [...byKey.values()];
}

/** The file's text for these biases and mountings (always the current format). */
export function formatCalibration(biases: readonly SavedBias[], mountings: readonly SavedMounting[] = []): string {
  const sensors: CalibrationFile["sensors"] = {};
  for (const b of biases) sensors[keyOf(b)] = { gyroBias: [...b.gyroBias], savedAt: b.savedAt };
  for (const m of mountings) {
    const mounting = {
      rotation: [m.rotation[0], m.rotation[1], m.rotation[2], m.rotation[3]] as [number, number, number, number], quality: m.quality, savedAt: m.savedAt,
      ...(m.sensorId !== undefined ? { sensorId: m.sensorId } : {}),
      ...(m.algorithm !== undefined ? { algorithm: m.algorithm } : {}),
      ...(m.handedness !== undefined ? { handedness: m.handedness } : {}),
    };
    sensors[keyOf(m)] = { ...sensors[keyOf(m)], mounting };
  }
  const file: CalibrationFile = { format: CALIBRATION_FORMAT, sensors };
  return JSON.stringify(file, null, 2) + "\n";
}
