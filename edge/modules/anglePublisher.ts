/**
 * Every angles message from the pipelines goes out on `<base>/angles`, and
 * every per-sample estimate (pipeline.perSample) on `<base>/angles/sample`, as live
 * data (QoS 0 by default: dropped and counted while offline; `mqtt.anglesQos: 1`
 * queues instead). See edge/mqtt/connection.ts for why.
 */
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";

export class AnglePublisherModule implements Module {
  readonly name = "angle-publisher";
  private readonly unsubscribes: Array<() => void> = [];

  constructor(private readonly deps: { readonly bus: EventBus<EdgeEvents>; readonly device: Pick<DevicePublisher, "publish"> }) {}

  async start(): Promise<void> {
    const { bus, device } = this.deps;
    this.unsubscribes.push(
      bus.on("angles", ({ message }) => device.publish("angles", message)),
      bus.on("sampleAngles", ({ message }) => device.publish("angles/sample", message)),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
  }
}
