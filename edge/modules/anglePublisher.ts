/**
 * Every angles message from the pipelines goes out on `<base>/angles`, as live
 * data (QoS 0 by default: dropped and counted while offline; `mqtt.anglesQos: 1`
 * queues instead). See edge/mqtt/connection.ts for why.
 */
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";

export class AnglePublisherModule implements Module {
  readonly name = "angle-publisher";
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: { readonly bus: EventBus<EdgeEvents>; readonly device: Pick<DevicePublisher, "publish"> }) {}

  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.on("angles", ({ message }) => this.deps.device.publish("angles", message));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
  }
}
