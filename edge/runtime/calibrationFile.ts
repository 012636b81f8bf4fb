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
 * Pure parsing and formatting here; the runtime does the file I/O.
 */
import { z } from "zod";

import { PLACEMENTS, type Placement } from "../contract/manifest.js";
import type { Vec3 } from "../sources/types.js";

export const CALIBRATION_FORMAT = "gait-calibration/1";

const vec3 = z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]);

const calibrationFileSchema = z.object({
  format: z.literal(CALIBRATION_FORMAT),
  sensors: z.record(z.string(), z.object({ gyroBias: vec3, savedAt: z.iso.datetime() }).loose()),
});
export type CalibrationFile = z.infer<typeof calibrationFileSchema>;

export interface SavedBias {
  readonly wearer: string;
  readonly placement: Placement;
  readonly gyroBias: Vec3;
  /** When this sensor was calibrated (ISO 8601): entries not re-measured keep theirs. */
  readonly savedAt: string;
}

const keyOf = (b: { wearer: string; placement: string }): string => `${b.wearer}/${b.placement}`;

/** Parse a calibration file's text; throws an Error naming `file` and the bad field. */
export function parseCalibration(text: string, file: string): SavedBias[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const r = calibrationFileSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new Error(`${file}: ${first.path.join(".") || "(root)"}: ${first.message}`);
  }
  const biases: SavedBias[] = [];
  for (const [key, v] of Object.entries(r.data.sensors)) {
    // The placement never contains "/", a wearer name might: split at the last one.
    const cut = key.lastIndexOf("/");
    const wearer = key.slice(0, cut);
    const placement = key.slice(cut + 1);
    if (cut <= 0) throw new Error(`${file}: sensors.${key}: keys are <wearer>/<placement>`);
    if (!(PLACEMENTS as readonly string[]).includes(placement)) {
      throw new Error(`${file}: sensors.${key}: unknown placement "${placement}" (valid: ${PLACEMENTS.join(", ")})`);
    }
    biases.push({ wearer, placement: placement as Placement, gyroBias: v.gyroBias, savedAt: v.savedAt });
  }
  return biases;
}

/** The calibration after a new one: earlier entries are kept (with their dates) unless re-measured. */
export function mergeCalibration(previous: readonly SavedBias[], measured: readonly SavedBias[]): SavedBias[] {
  const byKey = new Map<string, SavedBias>();
  for (const b of [...previous, ...measured]) byKey.set(keyOf(b), b);
  return [...byKey.values()];
}

/** The file's text for these biases. */
export function formatCalibration(biases: readonly SavedBias[]): string {
  const sensors: CalibrationFile["sensors"] = {};
  for (const b of biases) sensors[keyOf(b)] = { gyroBias: [...b.gyroBias], savedAt: b.savedAt };
  const file: CalibrationFile = { format: CALIBRATION_FORMAT, sensors };
  return JSON.stringify(file, null, 2) + "\n";
}
