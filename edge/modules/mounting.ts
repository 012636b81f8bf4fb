/**
 * Automatic mounting calibration (issue #9): per wearer and placement, the
 * sensor -> segment rotation found from ordinary walking (docs/calibration.md,
 * the pure functions in edge/calibration/). (Over 400 lines on purpose: one
 * sensor's states, below, are one state machine over the same stretches; split
 * apart, the re-strap check, the conversion and the pair check could judge
 * different samples. The pure parts already live in edge/calibration/.) A `gait-features/2` model's
 * angles need it (the pipeline rotates each placement's acc and gyro by it
 * and withholds the angles without it: edge/runtime/pipeline.ts); a v1
 * model's angles do not, and the gait-event module (edge/modules/gait.ts)
 * uses it for the feet either way.
 *
 * Per sensor:
 *
 *   - it calibrates on the model's own grid, as the pipeline publishes it
 *     (`grid` on the bus: the samples the features are built from, gyro bias
 *     subtracted, in sensor frames), so the rotation is found on exactly the
 *     samples it is applied to; a new grid segment (a gap or a stall) starts
 *     a new stretch, since calibrate() wants one contiguous stream;
 *   - a stretch is judged once it holds `walkS` seconds of moving (not still)
 *     samples, or `3 * walkS` seconds in all (so a sensor that only stands or
 *     never moves gets its refusal instead of waiting for ever);
 *   - uncalibrated: `calibrate()`; `calibrated` or `refused` with the reason,
 *     then a fresh stretch (a refused sensor keeps trying);
 *   - a LEFT-HANDED stream (calibrate() stops at `mirrored`: a Z label flipped
 *     on acc and gyro) is converted as the contract's step 2b says
 *     (`toRightHanded`: acc Z and gyro Z negated) and calibrated again; it is
 *     `calibrated` with `handedness: "left"`, reported ("left-handed stream
 *     converted") and saved with that flag. Its sensor -> segment map is then
 *     C · diag(1, 1, -1), an improper one (`rotation()` returns it; `C` and the
 *     saved quaternion stay the proper rotation applied after the flip), and its
 *     later stretches are converted before they are judged;
 *   - calibrated (from walking or from the file): `stillFits()` on every
 *     stretch; `stopped_fitting` (re-strapped) is reported and the same
 *     stretch recalibrates it;
 *   - a THIGH's flexion sign, when its own time asymmetry is uncertain, is
 *     decided by the foot of the same leg (the joint sign rule,
 *     docs/calibration.md): every thigh track also keeps its foot's raw gyro
 *     on the same grid samples, and is judged with the calibrated foot's
 *     sagittal rate as `signPartner`. A thigh refused `sign_uncertain` before
 *     its foot has a calibration keeps that stretch and is judged again on it
 *     as soon as the foot calibrates;
 *   - between those judgements, the fast re-strap watch (./restrapWatch.ts):
 *     the last 2.5-3 s of walking no longer look calibrated -> `restrap_suspected`,
 *     no rotation handed out (angles withheld) and a fresh stretch, whose
 *     judgement then clears it (still fits) or recalibrates;
 *   - once a leg's thigh and foot are both calibrated, the pair check
 *     (`checkPair`, on both stretches) reports a swap: `swapped`, naming both
 *     sensors. Never "fixed": the wearer re-straps, or the config's `sensors`
 *     map is corrected.
 *
 * A successful calibration is saved (calibration.file, through the store),
 * and a saved one is `calibrated` at start and re-checked as walking arrives.
 * Everything is synchronous in the `sample` listener: a judgement holds the
 * event loop (every wearer's next sample) for about 2 ms per 20 s stretch on
 * the 2-core machine (`slow_sample_ms` of edge/bench/mountingCost.ts).
 */
import {
  calibrateConverting, checkPair, isStill, quatFromMatrix, stillFits, toRightHanded, withZFlipped, CALIBRATION_ALGORITHM, MIN_JOINT_MARGIN,
  RESTRAP_DEG, type Calibration, type ConvertedCalibration, type Mat3, type Quat, type Refusal, type StreamHandedness, type Vec3,
} from "../calibration/index.js";
import type { Placement } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, GridEvent, MountingEvent, MountingState, RoutedSample } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { LEGACY_MOUNTING_ALGORITHM, type MountingQuality, type SavedMounting } from "../runtime/calibrationFile.js";
import { RestrapSuspect } from "./restrapWatch.js";

export interface MountingConfig {
  readonly enabled: boolean;
  /** Seconds of walking per judgement (calibration, then every re-strap check). */
  readonly walkS: number;
}

/** Where calibrations are kept (the calibration module, which owns calibration.file). */
export interface MountingStore {
  savedMountings(): readonly SavedMounting[];
  saveMounting(m: SavedMounting): Promise<void>;
  /** Forget these sensors' mountings (dropMountings); absent: nothing is kept beyond memory. */
  forgetMountings?(which: readonly SensorPlace[]): Promise<void>;
}

/** Where a sensor is worn: the key of its mounting. */
export interface SensorPlace {
  readonly wearer: string;
  readonly placement: Placement;
}

export interface MountingDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly store?: MountingStore;
  /** The placements the running model uses: only those are calibrated. */
  readonly placements: () => readonly Placement[];
  /** The model's grid rate (manifest sample_rate_hz): the rate of the `grid` samples. Default 100. */
  readonly rateHz?: () => number;
  /** True when the running model's features are in segment frames (gait-features/2): its angles wait for this. */
  readonly segmentFrames?: () => boolean;
  readonly now?: () => Date;
}

/**
 * What a consumer (the pipeline, the gait module) may use: the sensor -> segment map of a
 * calibrated, not-swapped sensor (`v_segment = M · v_sensor`, acc and gyro alike). A proper
 * rotation, or for a converted left-handed stream C · diag(1, 1, -1).
 */
export interface MountingView {
  rotation(wearer: string, placement: Placement): Mat3 | undefined;
}

/** One sensor's state, as `get_status` shows it. */
export interface MountingStats {
  state: MountingState;
  sensorId: string | null;
  progress: number;
  source: "walking" | "file" | null;
  /** The proper rotation C (applied after the conversion when `handedness` is "left"). */
  rotation: Quat | null;
  /** "left": a left-handed stream, converted (acc Z and gyro Z negated) before `rotation`. */
  handedness: StreamHandedness | null;
  quality: MountingQuality | null;
  savedAt: string | null;
  reason: string | null;
  /** Rotation (deg) between the calibration and the last stretch that still fitted it. */
  lastFitDeg: number | null;
  judgements: number;
}

/** The grid rate when the deps do not say (the contract's 100 Hz). */
const DEFAULT_RATE_HZ = 100;

/** The status's words for a converted stream (docs/calibration.md "On the edge"). */
export const CONVERTED_TEXT = "left-handed stream converted (acc Z and gyro Z negated, as the model contract's step 2b does); fix the sensor's axes in its reader";

/** Human reasons for calibrate()'s refusals: status readers are not all engineers. */
export const REFUSAL_TEXT: Readonly<Record<Refusal, string>> = {
  no_motion: "no_motion: the sensor never moved (on a table, or a dead gyro)",
  standing_only: "standing_only: standing, not enough walking",
  too_short: "too_short: no stretch of walking long enough",
  no_gait: "no_gait: moving, but not periodic walking",
  // Only when the stream is still left-handed AFTER the conversion (never, for a Z-label flip).
  mirrored: "mirrored: a left-handed stream, still mirrored after converting it (an axis label flipped on acc and gyro?): fix the sensor's axes in its reader",
  not_planar: "not_planar: the rotation is not mostly about one axis (is the sensor loose?)",
  sign_uncertain: "sign_uncertain: cannot tell forward from backward on this stretch",
};

interface Track {
  readonly wearer: string;
  readonly placement: Placement;
  sensorId: string | null;
  /**
   * The stretch being gathered, packed: grid sample i is acc x, y, z then gyro x, y, z at
   * [6i, 6i + 6). Packed, not a [x, y, z] array per sample: at 100 Hz a stretch is 2000+
   * samples per sensor that live 20 s, long enough to reach V8's old generation, and the
   * judgement unpacks them once (the same numbers). The buffer is reused for the next stretch.
   */
  samples: Float64Array;
  /** Grid samples in the stretch so far. */
  count: number;
  /**
   * Thighs: the same leg's foot's raw gyro on the same grid samples (its sign partner),
   * packed like `samples` (x, y, z at [3i, 3i + 3)); `footCount` of them. A grid sample
   * without the foot adds none, so `footCount < count` says the partner is incomplete.
   */
  footGyro: Float64Array;
  footCount: number;
  /** Thighs: the foot of the same leg (its sign partner), found once here, not per grid sample. */
  readonly footPlacement: Placement | undefined;
  /** Thighs: a stretch refused sign_uncertain while the foot had no calibration, judged again when it has one. */
  pendingSign: { raw: { acc: Vec3[]; gyro: Vec3[] }; footGyro: Vec3[] } | undefined;
  moving: number;
  state: MountingState;
  /** Last calibrating progress reported, in tenths. */
  reportedTenths: number;
  C: Mat3 | undefined;
  /** "left": the stream is converted before C (and before every judgement). */
  handedness: StreamHandedness;
  /** What rotation() hands out: C, or C · diag(1, 1, -1); a new matrix per calibration (identity matters downstream). */
  transform: Mat3 | undefined;
  rotation: Quat | undefined;
  quality: MountingQuality | undefined;
  savedAt: string | undefined;
  source: "walking" | "file" | undefined;
  reason: string | undefined;
  lastFitDeg: number | undefined;
  /** The stretch behind the last calibration or fit (the pair check compares two of them). */
  stretch: { acc: Vec3[]; gyro: Vec3[] } | undefined;
  judgements: number;
  /** The fast re-strap watch of a calibrated sensor (./restrapWatch.ts). */
  readonly suspect: RestrapSuspect;
}

/** One wearer's grid placements, resolved to tracks once (MountingModule.gridRowOf). */
interface GridRow {
  readonly placements: readonly Placement[];
  readonly tracks: ReadonlyArray<Track | undefined>;
  readonly footAt: Int32Array;
}

export class MountingModule implements Module, MountingView {
  readonly name = "mounting";
  /** wearer -> placement -> track: looked up for every grid sample, so no key strings are built. */
  private readonly tracks = new Map<string, Map<Placement, Track>>();
  /** wearer -> its tracks in the order of its grid samples' placements (gridRowOf). */
  private readonly gridRows = new Map<string, GridRow>();
  /** wearer -> placement -> the sensor id last routed there (for the swap message and the file). */
  private readonly sensorIds = new Map<string, Map<Placement, string>>();
  /** The model's placements, read at start (another set is a contract change: restart). */
  private wanted: readonly Placement[] = [];
  private readonly unsubscribes: Array<() => void> = [];
  private saveFailures = 0;

  constructor(
    private readonly config: MountingConfig,
    private readonly deps: MountingDeps,
  ) {}

  private rateHz = DEFAULT_RATE_HZ;

  async start(): Promise<void> {
    // Read once: stats() is called after stop() too, when the model may be gone; a model
    // update with another grid rate is a contract change that needs a restart (docs/ota.md).
    this.rateHz = this.deps.rateHz?.() ?? DEFAULT_RATE_HZ;
    if (!this.config.enabled) {
      if (this.deps.segmentFrames?.()) {
        throw new Error("mounting.enabled is false, but the model reads segment frames (gait-features/2): its angles need the mounting calibration; enable it");
      }
      return;
    }
    const placements = this.deps.placements();
    this.wanted = placements;
    for (const m of this.deps.store?.savedMountings() ?? []) {
      if (!placements.includes(m.placement)) continue;
      const algorithm = m.algorithm ?? LEGACY_MOUNTING_ALGORITHM;
      if (algorithm !== CALIBRATION_ALGORITHM) {
        // Another algorithm's rotation is not what this build (and a v2 model trained with
        // it) computes: calibrated again from walking, as an OTA install does (docs/ota.md).
        this.deps.logger.info(`${m.wearer}/${m.placement}: stored mounting made by ${algorithm}, this build calibrates with ${CALIBRATION_ALGORITHM}: calibrating again from walking`);
        continue;
      }
      const t = this.track(m.wearer, m.placement);
      const handedness = m.handedness ?? "right";
      const how = `loaded (calibrated ${m.savedAt}${handedness === "left" ? `; ${CONVERTED_TEXT}` : ""})`;
      this.setCalibrated(t, matrixFromQuat(m.rotation), handedness, m.quality, m.savedAt, "file", how);
    }
    this.unsubscribes.push(
      this.deps.bus.on("sample", (s) => this.onSample(s)),
      this.deps.bus.on("grid", (g) => this.onGrid(g)),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
  }

  /**
   * Stop using these sensors' mountings, now, and forget them in the store: each
   * calibrates again from its next walking (`calibrating`), as a sensor never seen.
   * For a model update whose calibration algorithm did not make them (edge/ota).
   * Resolves once the store has forgotten them; rejects when it could not.
   */
  async dropMountings(which: readonly SensorPlace[], reason: string): Promise<void> {
    for (const { wearer, placement } of which) {
      const t = this.tracks.get(wearer)?.get(placement);
      if (!t) continue;
      this.newStretch(t);
      Object.assign(t, { C: undefined, transform: undefined, rotation: undefined, quality: undefined, savedAt: undefined, source: undefined, stretch: undefined, lastFitDeg: undefined });
      t.handedness = "right";
      t.suspect.clear();
      t.state = "calibrating";
      t.reason = reason;
      this.deps.logger.info(`${wearer}/${placement}: mounting calibration dropped (${reason})`);
      // No reason in the event: the status shows plain `calibrating`, not a refusal (status.ts).
      this.emit(t, "calibrating", { progress: 0 });
    }
    await this.deps.store?.forgetMountings?.(which);
  }

  rotation(wearer: string, placement: Placement): Mat3 | undefined {
    const t = this.tracks.get(wearer)?.get(placement);
    return t && t.state !== "swapped" && !t.suspect.suspected ? t.transform : undefined;
  }

  stats(): Record<string, MountingStats> {
    const out: Record<string, MountingStats> = {};
    for (const t of [...this.tracks.values()].flatMap((m) => [...m.values()])) {
      out[`${t.wearer}/${t.placement}`] = {
        state: t.state,
        sensorId: t.sensorId,
        progress: t.C ? 1 : Math.min(1, t.moving / (this.config.walkS * this.rate())),
        source: t.source ?? null,
        rotation: t.rotation ?? null,
        handedness: t.C ? t.handedness : null,
        quality: t.quality ?? null,
        savedAt: t.savedAt ?? null,
        reason: t.reason ?? null,
        lastFitDeg: t.lastFitDeg ?? null,
        judgements: t.judgements,
      };
    }
    return out;
  }

  /** Only the sensor's id: the samples themselves come on the grid. */
  private onSample({ wearer, placement, sample }: RoutedSample): void {
    let ids = this.sensorIds.get(wearer);
    if (!ids) this.sensorIds.set(wearer, (ids = new Map<Placement, string>()));
    if (ids.get(placement) !== sample.sensorId) ids.set(placement, sample.sensorId);
  }

  private onGrid(g: GridEvent): void {
    const v = g.values;
    const ids = this.sensorIds.get(g.wearer);
    let row = this.gridRows.get(g.wearer);
    if (row?.placements !== g.placements) row = this.gridRowOf(g.wearer, g.placements);
    for (let i = 0; i < row.tracks.length; i++) {
      const t = row.tracks[i];
      if (t === undefined) continue; // a placement the model does not use
      const placement = row.placements[i]!;
      // The resampler has already dropped non-finite and out-of-range readings: every value is usable.
      const o = i * 6;
      t.sensorId = ids?.get(placement) ?? t.sensorId;
      if (g.index === 0) {
        this.newStretch(t); // a new grid segment: calibrate() wants one contiguous stream
        t.suspect.restart();
      }
      // Copied value by value, not through subarray(): a view is an object per sample.
      if ((t.count + 1) * 6 > t.samples.length) t.samples = grown(t.samples);
      const s = t.samples;
      const at = t.count * 6;
      for (let c = 0; c < 6; c++) s[at + c] = v[o + c]!;
      t.count++;
      const footAt = row.footAt[i]!;
      if (footAt >= 0) {
        if ((t.footCount + 1) * 3 > t.footGyro.length) t.footGyro = grown(t.footGyro);
        const f = t.footGyro;
        const fo = t.footCount * 3;
        const go = footAt * 6 + 3;
        f[fo] = v[go]!; f[fo + 1] = v[go + 1]!; f[fo + 2] = v[go + 2]!;
        t.footCount++;
      }
      // The watch copies the values into its own ring: one scratch pair serves every sample.
      if (t.state === "calibrated") {
        SCRATCH_ACC[0] = v[o]!; SCRATCH_ACC[1] = v[o + 1]!; SCRATCH_ACC[2] = v[o + 2]!;
        SCRATCH_GYRO[0] = v[o + 3]!; SCRATCH_GYRO[1] = v[o + 4]!; SCRATCH_GYRO[2] = v[o + 5]!;
        if (t.suspect.push(SCRATCH_ACC, SCRATCH_GYRO)) this.suspected(t);
      }
      if (!isStill(v[o]!, v[o + 1]!, v[o + 2]!, v[o + 3]!, v[o + 4]!, v[o + 5]!)) t.moving++;
      const need = this.config.walkS * this.rate();
      if (t.moving >= need || t.count >= 3 * need) this.judge(t);
      else if (!t.C) this.reportProgress(t, t.moving / need);
    }
  }

  /**
   * A wearer's grid layout, worked out once (the placements array is the
   * pipeline's own, the same object on every grid sample): per grid placement
   * its track (undefined: not a placement the model uses) and, for a thigh,
   * where its foot sits in the same grid sample (-1: not there). Tracks are
   * never replaced once made, so holding them here is safe.
   */
  private gridRowOf(wearer: string, placements: readonly Placement[]): GridRow {
    const tracks = placements.map((p) => (this.wanted.includes(p) ? this.track(wearer, p) : undefined));
    const footAt = Int32Array.from(tracks, (t) => (t?.footPlacement ? placements.indexOf(t.footPlacement) : -1));
    const row: GridRow = { placements, tracks, footAt };
    this.gridRows.set(wearer, row);
    return row;
  }

  private reportProgress(t: Track, progress: number): void {
    const tenths = Math.floor(progress * 10);
    if (tenths <= t.reportedTenths) return;
    t.reportedTenths = tenths;
    // After a refusal the sensor keeps trying, but the status keeps the refusal until one succeeds.
    if (t.state !== "refused") t.state = "calibrating";
    this.emit(t, "calibrating", { progress: tenths / 10, ...(t.state === "refused" && t.reason ? { reason: t.reason } : {}) });
  }

  private judge(t: Track): void {
    const raw = unpacked(t.samples, t.count);
    const footGyro = unpackedVectors(t.footGyro, t.footCount);
    this.newStretch(t);
    t.pendingSign = undefined; // a newer stretch replaces one kept for the foot
    t.judgements++;
    const who = `${t.wearer}/${t.placement}`;
    const signPartner = this.signPartner(t, footGyro, raw.acc.length);
    const withPartner = signPartner ? { signPartner } : {};
    if (t.C) {
      // Judged as the calibration applies it: a converted sensor's stretch is converted first.
      const { acc, gyro } = t.handedness === "left" ? toRightHanded(raw.acc, raw.gyro) : raw;
      const fit = stillFits(t.C, acc, gyro, this.rate(), RESTRAP_DEG, signPartner);
      if (fit.decision === "fits") {
        t.lastFitDeg = fit.angleDeg ?? undefined;
        t.stretch = { acc, gyro };
        if (fit.C && t.suspect.fitted(fit.C, t.handedness)) this.cleared(t, fit.angleDeg ?? 0);
        this.checkPairOf(t);
        return;
      }
      if (fit.decision === "undecided") {
        this.deps.logger.debug(() => `${who}: re-strap check undecided (${fit.reason})`);
        return;
      }
      const reason = `${(fit.angleDeg ?? 0).toFixed(0)} deg from its calibration (re-strapped?); recalibrating`;
      this.deps.logger.warn(`${who} stopped fitting its mounting calibration: ${reason}`);
      t.state = "stopped_fitting";
      t.reason = reason;
      t.suspect.clear();
      this.emit(t, "stopped_fitting", { reason });
      // From the raw stretch: the new strapping (or sensor) decides its own handedness.
      const fresh = calibrateConverting(raw.acc, raw.gyro, { rateHz: this.rate(), previous: t.C, ...withPartner });
      t.C = undefined;
      t.transform = undefined;
      t.rotation = undefined;
      this.conclude(t, fresh, `recalibrated after a re-strap (${(fit.angleDeg ?? 0).toFixed(0)} deg change)`);
      return;
    }
    const fresh = calibrateConverting(raw.acc, raw.gyro, { rateHz: this.rate(), ...withPartner });
    // A thigh that cannot tell its sign alone, before its foot has a calibration: kept for the foot.
    if (fresh.cal.reason === "sign_uncertain" && !signPartner && footGyro.length === raw.acc.length && isThigh(t.placement)) {
      t.pendingSign = { raw, footGyro };
    }
    this.conclude(t, fresh, "calibrated from walking");
  }

  /**
   * A thigh's sign partner: its foot's sagittal rate (M_foot · gyro)_z on the stretch's grid
   * samples, M_foot = the foot's sensor -> segment map. None while the foot has no calibration,
   * is swapped, or did not send every sample of the stretch.
   */
  private signPartner(t: Track, footGyro: readonly Vec3[], n: number): number[] | undefined {
    if (!isThigh(t.placement) || footGyro.length !== n || n === 0) return undefined;
    const foot = this.tracks.get(t.wearer)?.get(footPlacementOf(t.placement));
    if (!foot?.transform || foot.state === "swapped") return undefined;
    const z = foot.transform[2];
    return footGyro.map((g) => z[0] * g[0] + z[1] * g[1] + z[2] * g[2]);
  }

  /** The foot of a leg has just calibrated: a thigh stretch kept for it is judged again, with it. */
  private resolvePendingSign(foot: Track): void {
    const thigh = this.tracks.get(foot.wearer)?.get(`femur_${foot.placement.slice("calcn_".length)}` as Placement);
    const pending = thigh?.pendingSign;
    if (!thigh || !pending || thigh.C) return;
    thigh.pendingSign = undefined;
    const signPartner = this.signPartner(thigh, pending.footGyro, pending.raw.acc.length);
    if (!signPartner) return;
    this.conclude(thigh, calibrateConverting(pending.raw.acc, pending.raw.gyro, { rateHz: this.rate(), signPartner }), "calibrated from walking");
  }

  /** The watch fired: withhold this sensor's rotation, say why, and judge a fresh stretch of what it wears now. */
  private suspected(t: Track): void {
    const reason = t.suspect.reason();
    this.deps.logger.warn(`${t.wearer}/${t.placement}: re-strap suspected: ${reason}`);
    t.state = "restrap_suspected";
    t.reason = reason;
    this.newStretch(t);
    this.emit(t, "restrap_suspected", { reason });
  }

  /** The full judgement overruled the watch: the calibration still fits, its rotation applies again. */
  private cleared(t: Track, angleDeg: number): void {
    t.state = "calibrated";
    t.reason = `re-strap not confirmed: still fits its calibration (${angleDeg.toFixed(0)} deg)`;
    this.deps.logger.info(`${t.wearer}/${t.placement}: ${t.reason}`);
    this.emit(t, "calibrated", { ...(t.rotation ? { rotation: t.rotation } : {}), handedness: t.handedness, ...(t.quality ? { quality: t.quality } : {}), reason: t.reason });
  }

  private conclude(t: Track, handed: ConvertedCalibration, how: string): void {
    const { cal, handedness, stretch } = handed;
    if (!cal.ok || cal.C === null) {
      const reason = cal.reason === "" ? "refused" : REFUSAL_TEXT[cal.reason] + signContext(t, cal);
      this.deps.logger.warn(`${t.wearer}/${t.placement}: mounting calibration refused: ${reason}`);
      t.state = "refused";
      t.reason = reason;
      this.emit(t, "refused", { reason });
      return;
    }
    const quality: MountingQuality = {
      planarity: cal.planarity,
      signMargin: cal.signMargin,
      strides: cal.strides,
      strideS: cal.strideS,
      periodicity: cal.periodicity,
      seconds: cal.seconds,
      handednessScore: cal.handedness?.score ?? null,
      ...(cal.signSource !== "" ? { signSource: cal.signSource } : {}),
      jointMargin: cal.jointMargin,
    };
    const savedAt = (this.deps.now ?? (() => new Date()))().toISOString();
    t.stretch = stretch;
    const said = cal.signSource === "joint" ? `${how}; ${jointText(t, cal)}` : how;
    this.setCalibrated(t, cal.C, handedness, quality, savedAt, "walking", handedness === "left" ? `${said}; ${CONVERTED_TEXT}` : said);
    this.save(t);
    this.checkPairOf(t);
    if (t.placement.startsWith("calcn_")) this.resolvePendingSign(t);
  }

  private setCalibrated(t: Track, C: Mat3, handedness: StreamHandedness, quality: MountingQuality, savedAt: string, source: "walking" | "file", how: string): void {
    t.C = C;
    t.handedness = handedness;
    t.transform = handedness === "left" ? withZFlipped(C) : C;
    t.rotation = quatFromMatrix(C);
    t.quality = quality;
    t.savedAt = savedAt;
    t.source = source;
    t.state = "calibrated";
    t.reason = how;
    t.suspect.watch(t.transform, this.rate());
    this.deps.logger.info(`${t.wearer}/${t.placement}: mounting ${how}`, { planarity: quality.planarity, signMargin: quality.signMargin });
    this.emit(t, "calibrated", { rotation: t.rotation, handedness, quality, reason: how });
  }

  /** Thigh and foot of one leg, both calibrated: were they swapped? (Checked again after each stretch.) */
  private checkPairOf(t: Track): void {
    const side = t.placement.endsWith("_l") ? "l" : "r";
    const thigh = this.tracks.get(t.wearer)?.get(`femur_${side}` as Placement);
    const foot = this.tracks.get(t.wearer)?.get(`calcn_${side}` as Placement);
    if (!thigh?.C || !foot?.C || !thigh.stretch || !foot.stretch) return;
    const pair = checkPair(thigh.stretch.acc, thigh.stretch.gyro, foot.stretch.acc, foot.stretch.gyro);
    if (pair.swapped === true) {
      const reason =
        `${name(thigh)} (worn as ${thigh.placement}) and ${name(foot)} (worn as ${foot.placement}) look swapped: ` +
        `the thigh's stream is the more foot-like (pair score ${pair.score.toFixed(2)}); re-strap them or fix the sensors map`;
      if (foot.state === "swapped" && foot.reason === reason) return;
      this.deps.logger.warn(`${t.wearer}: ${reason}`);
      thigh.state = foot.state = "swapped";
      thigh.reason = foot.reason = reason;
      // One event (on the foot) for the pair: the status shows one problem, not the same one twice.
      this.emit(foot, "swapped", { reason });
    } else if (pair.swapped === false && foot.state === "swapped") {
      // A later pair check (after a re-strap) says they are right now (undecided leaves the swap standing).
      for (const x of [thigh, foot]) x.state = "calibrated";
      this.emit(foot, "calibrated", {
        ...(foot.rotation ? { rotation: foot.rotation } : {}), handedness: foot.handedness, ...(foot.quality ? { quality: foot.quality } : {}),
        reason: foot.handedness === "left" ? `pair check passed; ${CONVERTED_TEXT}` : "pair check passed",
      });
    }
  }

  private save(t: Track): void {
    const store = this.deps.store;
    if (!store || !t.rotation || !t.quality || !t.savedAt) return;
    const m: SavedMounting = {
      wearer: t.wearer,
      placement: t.placement,
      rotation: t.rotation,
      quality: t.quality,
      savedAt: t.savedAt,
      handedness: t.handedness,
      // Named, so a model trained with another algorithm knows not to use it (edge/ota/compatibility.ts).
      algorithm: CALIBRATION_ALGORITHM,
      ...(t.sensorId !== null ? { sensorId: t.sensorId } : {}),
    };
    void store.saveMounting(m).catch((err: unknown) => {
      // Still applied: it is found again from the next walk after a restart.
      this.saveFailures++;
      this.deps.logger.warn(`could not save the mounting calibration of ${t.wearer}/${t.placement}: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private rate(): number {
    return this.rateHz;
  }

  private newStretch(t: Track): void {
    t.count = 0;
    t.footCount = 0;
    t.moving = 0;
    t.reportedTenths = -1;
  }

  private track(wearer: string, placement: Placement): Track {
    let byPlacement = this.tracks.get(wearer);
    if (!byPlacement) this.tracks.set(wearer, (byPlacement = new Map<Placement, Track>()));
    let t = byPlacement.get(placement);
    if (!t) {
      t = {
        wearer, placement, sensorId: null, samples: new Float64Array(6 * INITIAL_STRETCH_SAMPLES), count: 0,
        footGyro: new Float64Array(isThigh(placement) ? 3 * INITIAL_STRETCH_SAMPLES : 0), footCount: 0, pendingSign: undefined,
        footPlacement: isThigh(placement) ? footPlacementOf(placement) : undefined,
        moving: 0, state: "calibrating", reportedTenths: -1,
        C: undefined, handedness: "right", transform: undefined, rotation: undefined, quality: undefined, savedAt: undefined, source: undefined, reason: undefined, lastFitDeg: undefined,
        stretch: undefined, judgements: 0, suspect: new RestrapSuspect(placement),
      };
      byPlacement.set(placement, t);
    }
    return t;
  }

  private emit(t: Track, state: MountingState, rest: Omit<MountingEvent, "wearer" | "placement" | "state">): void {
    const anglesWait = this.deps.segmentFrames?.() === true;
    this.deps.bus.emit("mounting", { wearer: t.wearer, placement: t.placement, state, ...rest, ...(anglesWait ? { anglesWait } : {}) });
  }
}

/** One grid sample's acc and gyro for the re-strap watch, which copies them (no allocation per sample). */
const SCRATCH_ACC: [number, number, number] = [0, 0, 0];
const SCRATCH_GYRO: [number, number, number] = [0, 0, 0];

/** A stretch's first buffer (grid samples): 10 s at 100 Hz; it doubles as the stretch grows. */
const INITIAL_STRETCH_SAMPLES = 1024;

/** A buffer twice as long (at least 6 values) holding the same values. */
function grown(buffer: Float64Array): Float64Array {
  const next = new Float64Array(Math.max(6, buffer.length * 2));
  next.set(buffer);
  return next;
}

/** Pure: the first `count` packed grid samples as the calibration's acc and gyro arrays. */
function unpacked(samples: Float64Array, count: number): { acc: Vec3[]; gyro: Vec3[] } {
  const acc = new Array<Vec3>(count);
  const gyro = new Array<Vec3>(count);
  for (let i = 0, o = 0; i < count; i++, o += 6) {
    acc[i] = [samples[o]!, samples[o + 1]!, samples[o + 2]!];
    gyro[i] = [samples[o + 3]!, samples[o + 4]!, samples[o + 5]!];
  }
  return { acc, gyro };
}

/** Pure: the first `count` packed 3-vectors (x, y, z at [3i, 3i + 3)). */
function unpackedVectors(packed: Float64Array, count: number): Vec3[] {
  const out = new Array<Vec3>(count);
  for (let i = 0, o = 0; i < count; i++, o += 3) out[i] = [packed[o]!, packed[o + 1]!, packed[o + 2]!];
  return out;
}

const name = (t: Track): string => (t.sensorId !== null ? `sensor "${t.sensorId}"` : `the ${t.placement} sensor`);

const isThigh = (p: Placement): boolean => p.startsWith("femur_");
/** femur_r -> calcn_r: the foot whose rotation decides a thigh's uncertain sign. */
const footPlacementOf = (thigh: Placement): Placement => `calcn_${thigh.slice("femur_".length)}` as Placement;

/** The status's words for a thigh whose sign its foot decided. */
function jointText(t: Track, cal: Calibration): string {
  return `flexion sign from the ${footPlacementOf(t.placement)} (own margin ${cal.signMargin.toFixed(3)}, ` +
    `thigh-foot lead-lag correlation ${(cal.jointMargin ?? 0).toFixed(2)})`;
}

/** What a sign_uncertain refusal of a thigh adds: whether the foot was asked, or will be. */
function signContext(t: Track, cal: Calibration): string {
  if (cal.reason !== "sign_uncertain" || !isThigh(t.placement)) return "";
  const foot = footPlacementOf(t.placement);
  if (cal.signSource === "joint") {
    return ` (nor with the ${foot}: thigh-foot lead-lag correlation ${Math.abs(cal.jointMargin ?? 0).toFixed(2)}, below ${MIN_JOINT_MARGIN})`;
  }
  return t.pendingSign ? ` (the ${foot}'s calibration decides it when it has one)` : "";
}

/** Pure: the rotation matrix of a unit quaternion (w, x, y, z): the inverse of quatFromMatrix. */
export function matrixFromQuat(q: readonly [number, number, number, number]): Mat3 {
  const [w, x, y, z] = q;
  return [
    [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
    [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
    [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ];
}
