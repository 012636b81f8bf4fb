/**
 * An ImuSource that plays the gait simulator: N wearers × placements at
 * rateHz, either in real time (demos, soak tests) or as fast as the consumer
 * takes it (load benchmark, CI). Samples are identical in both modes for the
 * same seed because the generator is a pure function of (stream, sample index).
 */

import { z } from "zod";
import { createLogger, type Logger } from "../../log.js";
import { SourceCore, noDataTimeoutMsSchema, reasonOf } from "../core.js";
import type { ImuSample, ImuSource, SourceHandlers, SourceStats } from "../types.js";
import { GaitSimulator, SIM_PLACEMENTS, type SimPlacement } from "./gaitSimulator.js";

/** "w{wearer}:{placement}" with wearers numbered from 1 -> "w1:femur_r". */
export function simulatorSensorId(format: string, wearer: number, placement: SimPlacement): string {
  return format.replaceAll("{wearer}", String(wearer + 1)).replaceAll("{placement}", placement);
}

export const simulatorSourceSchema = z
  .object({
    wearers: z.number().int().min(1).max(100_000).default(1),
    /**
     * The first wearer simulated (from 0): wearers firstWearer+1 .. firstWearer+wearers
     * in the sensor ids. Each wearer's walking is the same whatever the others are
     * (a fleet played in parts, e.g. the bench's calibration pre-pass).
     */
    firstWearer: z.number().int().min(0).max(100_000).default(0),
    rateHz: z.number().positive().max(10_000).default(100),
    placements: z.array(z.enum(SIM_PLACEMENTS)).min(1).default(["femur_r", "calcn_r"]),
    /** true: paced by the wall clock; false: as fast as possible, needs durationS. */
    realtime: z.boolean().default(true),
    /** Stop (and call onEnd) after this much simulated time; runs forever when absent. */
    durationS: z.number().positive().optional(),
    seed: z.number().int().default(1),
    /** {wearer} (from 1) and {placement} are replaced; every sensorId must come out unique. */
    sensorIdFormat: z.string().min(1).default("w{wearer}:{placement}"),
    /** Strides per second (about 1 Hz for normal walking). */
    strideHz: z.number().positive().max(5).default(1),
    noise: z
      .object({
        /** White-noise standard deviation, m/s². */
        acc: z.number().min(0).default(0.05),
        /** White-noise standard deviation, rad/s. */
        gyro: z.number().min(0).default(0.005),
      })
      .prefault({}),
    /**
     * Wearer w (from 0) sends its first sample `w / wearers × startSpreadS`
     * seconds after the first wearer. 0: all start on the same tick, so every
     * wearer's stride ends in the same tick (the worst case for a burst of
     * inference); a stride's length (0.25) spreads their windows over the
     * stride, as wearers who connect at random moments are.
     */
    startSpreadS: z.number().min(0).max(60).default(0),
    /** no_valid_data after this long without a sample (a stalled event loop, in practice); 0 = off. */
    noDataTimeoutMs: noDataTimeoutMsSchema,
  })
  .refine((c) => c.realtime || c.durationS !== undefined, {
    message: "fast mode (realtime: false) needs durationS, or it would never yield an end",
    path: ["durationS"],
  })
  .refine(
    (c) =>
      (c.wearers === 1 || c.sensorIdFormat.includes("{wearer}")) &&
      (new Set(c.placements).size === c.placements.length) &&
      (c.placements.length === 1 || c.sensorIdFormat.includes("{placement}")),
    {
      message: "sensorIdFormat must contain {wearer} (several wearers) and {placement} (several placements), placements must be distinct",
      path: ["sensorIdFormat"],
    },
  );

export type SimulatorSourceConfig = z.infer<typeof simulatorSourceSchema>;

export interface SimulatorSourceDeps {
  logger?: Logger;
  /** Monotonic clock in ms; tests pass a fake one. */
  now?: () => number;
}

/** Real-time pacing: a tick emits every sample due by then, so a late tick catches up. */
const TICK_MS = 10;
/** Fast mode: about this many samples between yields to the event loop. */
const SAMPLES_PER_CHUNK = 4_000;

export class SimulatorSource implements ImuSource {
  readonly kind = "simulator";
  private readonly log: Logger;
  private readonly now: () => number;
  private simulator: GaitSimulator | undefined;
  private sensorIds: string[] = [];
  /** Per stream: the first grid sample it sends (startSpreadS). */
  private firstSample: Int32Array = new Int32Array(0);
  private readonly core: SourceCore;
  private readonly scratch = new Float64Array(6);
  /** Next grid sample index to emit (all streams share the grid). */
  private next = 0;
  private total = Number.POSITIVE_INFINITY;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private fastLoop: Promise<void> | undefined;

  constructor(
    private readonly config: SimulatorSourceConfig,
    deps: SimulatorSourceDeps = {},
  ) {
    this.log = deps.logger ?? createLogger("source:simulator");
    this.now = deps.now ?? (() => performance.now());
    this.core = new SourceCore({
      name: "simulator",
      logger: this.log,
      noDataTimeoutMs: config.noDataTimeoutMs,
      now: this.now,
    });
  }

  async start(handlers: SourceHandlers): Promise<void> {
    if (this.running || this.simulator) throw new Error("SimulatorSource.start() called twice");
    const c = this.config;
    const simulator = new GaitSimulator({
      wearers: c.wearers,
      firstWearer: c.firstWearer,
      placements: c.placements,
      rateHz: c.rateHz,
      strideHz: c.strideHz,
      seed: c.seed,
      accNoise: c.noise.acc,
      gyroNoise: c.noise.gyro,
    });
    this.simulator = simulator;
    this.sensorIds = simulator.streams.map((s) => simulatorSensorId(c.sensorIdFormat, s.wearer, s.placement));
    this.firstSample = Int32Array.from(simulator.streams, (s) => Math.round(((s.wearer - c.firstWearer) / c.wearers) * c.startSpreadS * c.rateHz));
    this.next = 0;
    this.total = c.durationS === undefined ? Number.POSITIVE_INFINITY : Math.round(c.durationS * c.rateHz);
    this.running = true;
    this.core.begin(handlers);
    this.log.info("simulating", {
      streams: this.sensorIds.length,
      rateHz: c.rateHz,
      realtime: c.realtime,
      durationS: c.durationS,
    });
    if (c.realtime) {
      const t0 = this.now();
      const tick = (): void => {
        // Sample k is due at t0 + k / rate; emit everything due, however late the tick.
        const due = Math.floor(((this.now() - t0) * c.rateHz) / 1000) + 1;
        this.emitUntil(Math.min(due, this.total));
        if (this.next >= this.total) this.finish();
      };
      // The first tick comes from the timer too, so onSample/onEnd never run inside start().
      this.timer = setInterval(tick, TICK_MS);
    } else {
      this.fastLoop = this.runFast().catch((err: unknown) => {
        // Only a bug in the generator gets here (consumer throws are caught per sample): say so and end.
        this.running = false;
        this.core.issue({ kind: "io_error", message: `simulator stopped: ${reasonOf(err)}` });
        this.core.end();
      });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.core.halt();
    clearInterval(this.timer);
    this.timer = undefined;
    await this.fastLoop;
  }

  stats(): SourceStats {
    return this.core.stats();
  }

  private async runFast(): Promise<void> {
    const chunk = Math.max(1, Math.floor(SAMPLES_PER_CHUNK / Math.max(1, this.sensorIds.length)));
    // The first chunk waits a turn too: no sample is delivered before start() has resolved.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.running && this.next < this.total) {
      this.emitUntil(Math.min(this.next + chunk, this.total));
      // Let I/O, timers and stop() in between chunks.
      if (this.next < this.total) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.running) this.finish();
  }

  /** Emits grid samples [next, end) for every stream. */
  private emitUntil(end: number): void {
    const simulator = this.simulator;
    if (!simulator) return;
    const out = this.scratch;
    const ids = this.sensorIds;
    while (this.running && this.next < end) {
      const k = this.next++;
      const tUs = simulator.timestampUs(k);
      for (let i = 0; i < ids.length; i++) {
        if (k < this.firstSample[i]!) continue; // this wearer has not started yet
        simulator.sample(i, k, out);
        const sample: ImuSample = {
          sensorId: ids[i]!,
          tUs,
          seq: k,
          acc: [out[0]!, out[1]!, out[2]!],
          gyro: [out[3]!, out[4]!, out[5]!],
        };
        // A throwing consumer is counted and reported by the core; the clock of every other stream goes on.
        this.core.deliver(sample);
      }
    }
  }

  private finish(): void {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.timer);
    this.timer = undefined;
    this.log.info("simulation complete", { samples: this.core.stats().samples });
    this.core.end();
  }
}
