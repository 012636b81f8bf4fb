/**
 * The page's MQTT connection to one device's topics, over WebSocket (mqtt.js's
 * browser build, bundled). It reports what happens as plain events; the page
 * decides what to show. MQTT 3.1.1 (protocol version 4), because the embedded
 * aedes broker speaks nothing newer and mosquitto speaks it too.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { DashboardTopics } from "./lib/messages.js";

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "refused" | "error";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface ConnectionEvents {
  state(state: ConnectionState, detail?: string): void;
  message(topic: string, payload: string): void;
  /** The broker refused a subscription (an ACL: e.g. a read-only account may not read command replies). */
  subscriptionRefused(topic: string): void;
}

/** CONNACK codes that no retry can fix: the user must type (other) credentials. */
const AUTH_REFUSALS = new Set([4, 5]);

export class DeviceConnection {
  private client: MqttClient | undefined;

  constructor(
    private readonly url: string,
    private readonly topics: DashboardTopics,
    private readonly events: ConnectionEvents,
  ) {}

  connect(credentials?: Credentials): void {
    this.close();
    this.events.state("connecting", this.url);
    const client = mqtt.connect(this.url, {
      protocolVersion: 4,
      clientId: `gait-dashboard-${Math.random().toString(16).slice(2, 10)}`,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      ...(credentials?.username ? { username: credentials.username, password: credentials.password } : {}),
    });
    this.client = client;
    client.on("connect", () => {
      this.events.state("connected", this.url);
      this.subscribe(client);
    });
    client.on("reconnect", () => this.events.state("reconnecting", this.url));
    client.on("error", (err: Error & { code?: unknown }) => {
      if (typeof err.code === "number" && AUTH_REFUSALS.has(err.code)) {
        // Retrying with the same credentials only fills the broker's log.
        client.end(true);
        this.events.state("refused", err.message);
      } else {
        this.events.state("error", err.message);
      }
    });
    client.on("message", (topic, payload) => this.events.message(topic, payload.toString()));
  }

  private subscribe(client: MqttClient): void {
    const t = this.topics;
    // Angles at QoS 0 like the device publishes them: a late sample is worth nothing to a live plot.
    const wanted: Record<string, { qos: 0 | 1 }> = {
      [t.angles]: { qos: 0 },
      [t.status]: { qos: 1 },
      [t.model]: { qos: 1 },
      [t.otaState]: { qos: 1 },
      [t.gaitMetrics]: { qos: 0 },
      [t.commandResponse]: { qos: 1 },
    };
    client.subscribe(wanted, (err, granted) => {
      if (err) {
        this.events.state("error", `subscribe failed: ${err.message}`);
        return;
      }
      for (const g of granted ?? []) if (g.qos === 128) this.events.subscriptionRefused(g.topic);
    });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** false when not connected (the request would be dropped, not queued for later: a calibrate minutes late is wrong). */
  publishJson(topic: string, payload: unknown): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, JSON.stringify(payload), { qos: 1 }, (err) => {
      if (err) this.events.state("error", `publish to ${topic} failed: ${err.message}`);
    });
    return true;
  }

  close(): void {
    const client = this.client;
    this.client = undefined;
    client?.removeAllListeners();
    // A closing client may still report a socket error; with no listener that would be thrown.
    client?.on("error", () => undefined);
    // end(force) drops the socket at once; the callback form never rejects.
    client?.end(true);
  }
}
