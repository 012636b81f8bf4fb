/**
 * The typed upper MQTT layer: what the device publishes, checked against the
 * topic -> payload map (`TopicPayloads` in topics.ts). Modules never build a
 * topic string or a JSON body themselves; they say which topic suffix and hand
 * the payload the map requires there.
 *
 *   publish("angles", msg)            live: hot path, dropped while offline at QoS 0
 *   publishRetained("status", msg)    retained: kept and re-published on every reconnect
 */
import type { MqttConfig } from "./config.js";
import type { DeviceTopics, LiveSuffix, RetainedSuffix, TopicPayloads } from "./topics.js";

/** The slice of MqttConnection the publisher needs (tests substitute a fake). */
export interface PublishingConnection {
  readonly topics: DeviceTopics;
  publishLive(topic: string, body: string, qos: 0 | 1, queueLimit: number): void;
  publishRetained(topic: string, payload: object): Promise<void>;
}

export class DevicePublisher {
  constructor(
    private readonly connection: PublishingConnection,
    private readonly config: Pick<MqttConfig, "anglesQos" | "anglesQueueLimit">,
  ) {}

  /** Live data. Never awaits, never throws: loss while offline is counted by the connection. */
  publish<K extends LiveSuffix>(suffix: K, payload: TopicPayloads[K]): void {
    // Gait events are only worth something now (a controller acts on them at once): always QoS 0.
    const qos = suffix.startsWith("gait/") ? 0 : this.config.anglesQos;
    this.connection.publishLive(this.connection.topics[suffix], JSON.stringify(payload), qos, this.config.anglesQueueLimit);
  }

  /**
   * Retained state. Resolves once the broker has it, or at once while offline
   * (it goes out on connect); rejects if the broker did not take it while
   * connected (it is still kept and re-sent on the next connect).
   */
  publishRetained<K extends RetainedSuffix>(suffix: K, payload: TopicPayloads[K]): Promise<void> {
    return this.connection.publishRetained(this.connection.topics[suffix], payload);
  }
}
