/**
 * The source factory: one config entry per source, discriminated by `kind`.
 * Drivers are loaded lazily, so a machine without Bluetooth (noble throws at
 * import) or without serial bindings still runs every other source.
 */
import { z } from "zod";
import { dotSourceSchema } from "./ble/dotSource.js";
import { replaySourceSchema } from "./replay/replay-source.js";
import { serialSourceSchema } from "./serial/serialSource.js";
import { simulatorSourceSchema } from "./simulator/simulatorSource.js";
import type { Logger } from "../log.js";
import type { ImuSource } from "./types.js";

export { SourceConfigError } from "./types.js";
export { checkReplayCovers } from "./replay/replay-source.js";

export const sourceConfigSchema = z.discriminatedUnion("kind", [
  replaySourceSchema.safeExtend({ kind: z.literal("replay") }),
  serialSourceSchema.safeExtend({ kind: z.literal("serial") }),
  dotSourceSchema.safeExtend({ kind: z.literal("ble-dot") }),
  simulatorSourceSchema.safeExtend({ kind: z.literal("simulator") }),
]);
export type SourceConfig = z.infer<typeof sourceConfigSchema>;
export type SourceKind = SourceConfig["kind"];
export const SOURCE_KINDS: readonly SourceKind[] = ["replay", "serial", "ble-dot", "simulator"];

export interface SourceDeps {
  readonly logger: Logger;
  /** Replay backpressure: resolves when the pipeline has room again. */
  readonly waitForDrain?: () => Promise<void>;
  /**
   * Sensor ids the model needs (its placements). A replay without one of
   * them fails start() with a SourceConfigError; live sources ignore it (a
   * missing live sensor is a health matter, reported while running).
   */
  readonly requiredSensors?: readonly string[];
}

/** Build a source from its config entry; unknown kinds list the valid ones. */
export async function createSource(config: SourceConfig, deps: SourceDeps): Promise<ImuSource> {
  const logger = deps.logger.child(config.kind);
  switch (config.kind) {
    case "replay": {
      const { ReplaySource } = await import("./replay/replay-source.js");
      return new ReplaySource(config, {
        logger,
        ...(deps.waitForDrain ? { waitForDrain: deps.waitForDrain } : {}),
        ...(deps.requiredSensors ? { requiredSensors: deps.requiredSensors } : {}),
      });
    }
    case "serial": {
      const { SerialSource } = await import("./serial/serialSource.js");
      return new SerialSource(config, { logger });
    }
    case "ble-dot": {
      const { DotSource } = await import("./ble/dotSource.js");
      return new DotSource(config, { logger });
    }
    case "simulator": {
      const { SimulatorSource } = await import("./simulator/simulatorSource.js");
      return new SimulatorSource(config, { logger });
    }
    default: {
      const kind = (config as { kind?: unknown }).kind;
      throw new Error(`unknown source kind ${JSON.stringify(kind)}; valid kinds: ${SOURCE_KINDS.join(", ")}`);
    }
  }
}
