/**
 * The `dashboard` section of the runtime config (docs/dashboard.md), apart
 * from the server (server.ts) so that the config can validate it without
 * loading the server: `import "node:http"` from an ES module loads all of
 * Node's bundled undici too (node:http's lazy exports are read when its
 * module namespace is built), ~10 MB of RSS a device without the dashboard
 * never needs (issue #11). The runtime imports server.ts only when the
 * dashboard starts (edge/modules/dashboard.ts).
 */
import { z } from "zod";

export const dashboardConfigSchema = z.object({
  /** A `dashboard` section turns it on; `enabled: false` keeps the section but switches it off. */
  enabled: z.boolean().default(true),
  /** 127.0.0.1 keeps it on the device; 0.0.0.0 serves the LAN (anyone who reaches the port sees the angles). */
  host: z.string().default("127.0.0.1"),
  /** 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).default(8080),
  /**
   * The broker's MQTT-over-WebSocket URL for the page, e.g. "wss://pi-01.local:9001"
   * (mosquitto's `listener 9001` + `protocol websockets`). Absent: `/mqtt` on this
   * port when the embedded broker is bridged.
   */
  brokerWsUrl: z
    .string()
    .regex(/^(wss?:\/\/.+|\/.*)$/, "expected ws://..., wss://... or a path like /mqtt")
    .optional(),
});
export type DashboardConfig = z.infer<typeof dashboardConfigSchema>;
