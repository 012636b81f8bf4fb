/**
 * `/config.json`: what the dashboard page needs to find its device, shared by
 * the server (edge/dashboard/server.ts) that writes it and the page
 * (web/dashboard) that reads it. It never carries credentials: the page is
 * served to anyone who can reach the port, so a password in it would be a
 * password for everyone. The user types them into the page's form instead.
 */
// zod/mini: this file is bundled into the page too, where classic zod would add 450 KiB.
import * as z from "zod/mini";

/** Where the runtime's own broker is bridged, on the dashboard's port. */
export const MQTT_WS_PATH = "/mqtt";

export const pageConfigSchema = z.object({
  prefix: z.string().check(z.minLength(1)),
  deviceId: z.string().check(z.minLength(1)),
  /**
   * The broker's MQTT-over-WebSocket URL: absolute ("wss://pi-01.local:9001"),
   * or a path ("/mqtt") on the page's own host, which only the browser knows
   * (the Pi is reached as pi-01.local, 192.168.1.20, or through a tunnel).
   * null: none configured, the page says so.
   */
  brokerWsUrl: z.nullable(z.string().check(z.minLength(1))),
});
export type PageConfig = z.infer<typeof pageConfigSchema>;

/**
 * The URL the browser connects to: a path is resolved against the page's
 * address, http -> ws and https -> wss (a page served over TLS must not open
 * a plaintext socket, and browsers refuse it anyway).
 */
export function resolveBrokerUrl(brokerWsUrl: string, pageUrl: string): string {
  const url = new URL(brokerWsUrl, pageUrl);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error(`broker URL must be ws:// or wss://, got ${brokerWsUrl}`);
  return url.toString();
}
