/**
 * Gait events and strides on MQTT (docs/gait-events.md):
 *
 *   <base>/gait/event    GaitEventMessage  heel strike, toe off, mid-swing (QoS 0)
 *   <base>/gait/stride   StrideMessage     one per completed stride       (QoS 0)
 *
 * For each wearer's foot (calcn_r, calcn_l) whose mounting is calibrated
 * (edge/modules/mounting.ts; not while its leg's thigh and foot look
 * swapped), the gyro goes onto the same 100 Hz grid as the calibration and is
 * rotated into the segment frame: w = (C gyro)_z, the sagittal rate, positive
 * = toes rising (checked against the gait golden vectors' AB06 rate in
 * test/modules/gait.test.ts). `GaitStream` (edge/gait/stream.ts) turns it
 * into events and strides. No calibration, no events: a rate in the wrong
 * frame would give plausible-looking wrong ones.
 *
 * Range of motion: the model's `angles` (on the sample clock, `sensorTimeUs`)
 * go to the right foot's stride tracker when the model's joints include the
 * tracker's five right-leg joints; a stride then closes once the angles have
 * caught up with its end. The left foot's strides carry no ROM (the shipped
 * model estimates the right leg only).
 *
 * A new calibration (re-strap) or a gap restarts the foot's detector: no
 * event or stride spans a change of frame or a dropout.
 */
import { GridResampler } from "../calibration/grid.js";
import type { Mat3 } from "../calibration/linalg.js";
import type { Placement } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, RoutedSample } from "../core/events.js";
import type { Module } from "../core/module.js";
import { STRIDE_JOINTS } from "../gait/strides.js";
import { GaitStream } from "../gait/stream.js";
import { gaitEventMessage, strideMessage, type Stride } from "../gait/types.js";
import type { Logger } from "../log.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";
import type { AnglesMessage } from "../mqtt/topics.js";
import type { MountingView } from "./mounting.js";
import { DEFAULT_WEARER } from "./sources.js";

export interface GaitConfig {
  readonly enabled: boolean;
}

export interface GaitDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly device: Pick<DevicePublisher, "publish">;
  readonly mounting: MountingView;
  /** The running model's joints: the right foot tracks ROM when they include the five STRIDE_JOINTS. */
  readonly joints: () => readonly string[];
}

export interface GaitStats {
  events: number;
  strides: number;
  /** Foot samples that arrived without a usable calibration (not analysed). */
  uncalibratedSamples: number;
  restarts: number;
}

const FEET: readonly Placement[] = ["calcn_r", "calcn_l"];

interface Foot {
  readonly wearer: string;
  readonly placement: Placement;
  readonly grid: GridResampler;
  readonly stream: GaitStream;
  /** The calibration the stream runs on (by identity: a new one restarts it). */
  C: Mat3 | undefined;
  readonly stats: GaitStats;
}

export class GaitModule implements Module {
  readonly name = "gait";
  private readonly feet = new Map<string, Foot>();
  /** The same feet by wearer, then placement: looked up for every foot sample, so no key string is built. */
  private readonly feetOf = new Map<string, Map<Placement, Foot>>();
  private readonly unsubscribes: Array<() => void> = [];
  private anglesWithoutClock = 0;
  /** One angles row's STRIDE_JOINTS values, refilled per row (onAngles); the stride tracker keeps its own copy. */
  private readonly strideAngles = new Array<number>(STRIDE_JOINTS.length).fill(Number.NaN);

  constructor(
    private readonly config: GaitConfig,
    private readonly deps: GaitDeps,
  ) {}

  async start(): Promise<void> {
    if (!this.config.enabled) return;
    const bus = this.deps.bus;
    this.unsubscribes.push(
      bus.on("sample", (s) => this.onSample(s)),
      bus.on("angles", ({ message }) => this.onAngles(message)),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
  }

  stats(): Record<string, GaitStats> {
    return Object.fromEntries([...this.feet.values()].map((f) => [`${f.wearer}/${f.placement}`, { ...f.stats }]));
  }

  private onSample({ wearer, placement, sample }: RoutedSample): void {
    if (!FEET.includes(placement)) return;
    const foot = this.foot(wearer, placement);
    const C = this.deps.mounting.rotation(wearer, placement);
    if (C !== foot.C) {
      // Calibrated, recalibrated (re-strap) or lost (swap): the rate's frame changed.
      foot.C = C;
      foot.stream.reset();
      foot.grid.reset();
      foot.stats.restarts++;
    }
    if (C === undefined) {
      foot.stats.uncalibratedSamples++;
      return;
    }
    const gyro = sample.gyro;
    if (!Number.isFinite(gyro[0]) || !Number.isFinite(gyro[1]) || !Number.isFinite(gyro[2]) || !Number.isFinite(sample.tUs)) return;
    const n = foot.grid.push(sample.tUs, sample.acc, gyro);
    for (let i = 0; i < n; i++) {
      const g = foot.grid.at(i);
      if (g.restart) foot.stream.reset();
      const w = C[2][0] * g.gyro[0] + C[2][1] * g.gyro[1] + C[2][2] * g.gyro[2];
      const r = foot.stream.push(g.tUs / 1e6, w);
      for (let j = 0; j < r.events.length; j++) {
        foot.stats.events++;
        this.deps.device.publish("gait/event", gaitEventMessage(r.events[j]!, wearer, placement, r.phase));
      }
      this.publishStrides(foot, r.strides);
    }
  }

  private onAngles(message: AnglesMessage): void {
    const wearer = message.wearer ?? DEFAULT_WEARER;
    const foot = this.feetOf.get(wearer)?.get("calcn_r");
    if (!foot?.C || !foot.stream.strides.joints) return;
    const times = message.sensorTimeUs;
    if (times === undefined || times.length !== message.angles.length) {
      if (this.anglesWithoutClock++ === 0) this.deps.logger.warn("angles without sensor times cannot be lined up with the foot's strides: ignored");
      return;
    }
    const columns = STRIDE_JOINTS.map((j) => message.joints.indexOf(j));
    if (columns.some((c) => c < 0)) return;
    // One row of the stride joints' angles at a time, in a scratch the tracker copies (pushAngles).
    const joints = this.strideAngles;
    for (let k = 0; k < message.angles.length; k++) {
      const row = message.angles[k]!;
      for (let j = 0; j < columns.length; j++) joints[j] = row[columns[j]!] ?? Number.NaN;
      this.publishStrides(foot, foot.stream.strides.pushAngles(times[k]! / 1e6, joints));
    }
  }

  private publishStrides(foot: Foot, strides: readonly Stride[]): void {
    for (let i = 0; i < strides.length; i++) {
      foot.stats.strides++;
      this.deps.device.publish("gait/stride", strideMessage(strides[i]!, foot.wearer, foot.placement));
    }
  }

  private foot(wearer: string, placement: Placement): Foot {
    let byPlacement = this.feetOf.get(wearer);
    if (!byPlacement) this.feetOf.set(wearer, (byPlacement = new Map<Placement, Foot>()));
    let f = byPlacement.get(placement);
    if (!f) {
      // Only the right foot's strides wait for the (right-leg) angles, and only when the model has those joints.
      const joints = this.deps.joints();
      const rom = placement === "calcn_r" && STRIDE_JOINTS.every((j) => joints.includes(j));
      f = { wearer, placement, grid: new GridResampler(), stream: new GaitStream(rom), C: undefined, stats: { events: 0, strides: 0, uncalibratedSamples: 0, restarts: 0 } };
      byPlacement.set(placement, f);
      this.feet.set(keyOf(wearer, placement), f);
    }
    return f;
  }
}

const keyOf = (wearer: string, placement: string): string => `${wearer}|${placement}`;
