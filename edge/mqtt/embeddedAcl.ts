/**
 * Who may do what on the embedded broker: the same rules as the shipped
 * mosquitto ACL (deploy/mosquitto/acl), written as code, so a device that
 * serves its own broker on the LAN is no weaker than one behind mosquitto.
 *
 *   device <u>   writes <prefix>/<u>/{angles,angles/sample,gait/event,gait/stride,status,model,
 *                       command/response,bridge,ota/state,ota/request,ota/command/response}
 *                reads  <prefix>/<u>/{command,ota/offer,ota/chunk,ota/command}
 *   operator     reads  <prefix>/#; writes <prefix>/+/command, <prefix>/+/ota/{command,offer,chunk},
 *                       <prefix>/fleet/+/ota/{offer,chunk}
 *   viewer       reads  <prefix>/+/{angles,angles/sample,gait/event,gait/stride,status,model,bridge},
 *                       <prefix>/+/ota/state
 *   self         the runtime's own client: the device rules for its deviceId,
 *                plus its fleets' offers (<prefix>/fleet/+/ota/#)
 *
 * Everything else is refused: `$SYS`, other prefixes, another device's topics.
 */
import { topicMatches } from "./topics.js";

export type EmbeddedRole = "device" | "operator" | "viewer";

/** Who a connected client is, as the broker authenticated it. */
export interface Identity {
  readonly username: string;
  readonly role: EmbeddedRole | "self";
}

// Live data (angles, per-sample angles, gait events and strides), presence, replies and OTA progress.
const DEVICE_WRITES = [
  "angles",
  "angles/sample",
  "gait/event",
  "gait/stride",
  "status",
  "model",
  "command/response",
  "bridge",
  "ota/state",
  "ota/request",
  "ota/command/response",
];
const DEVICE_READS = ["command", "ota/offer", "ota/chunk", "ota/command"];
const OPERATOR_WRITES = ["+/command", "+/ota/command", "+/ota/offer", "+/ota/chunk", "fleet/+/ota/offer", "fleet/+/ota/chunk"];
const VIEWER_READS = ["+/angles", "+/angles/sample", "+/gait/event", "+/gait/stride", "+/status", "+/model", "+/bridge", "+/ota/state"];

/** The topic filters an identity may publish to (`write`) or receive from (`read`). */
export function allowedFilters(prefix: string, who: Identity, access: "read" | "write"): string[] {
  const own = (suffixes: string[]) => suffixes.map((s) => `${prefix}/${who.username}/${s}`);
  const any = (suffixes: string[]) => suffixes.map((s) => `${prefix}/${s}`);
  switch (who.role) {
    case "device":
      return access === "write" ? own(DEVICE_WRITES) : own(DEVICE_READS);
    case "self":
      return access === "write" ? own(DEVICE_WRITES) : [...own(DEVICE_READS), `${prefix}/fleet/+/ota/#`];
    case "operator":
      return access === "write" ? any(OPERATOR_WRITES) : [`${prefix}/#`];
    case "viewer":
      return access === "write" ? [] : any(VIEWER_READS);
  }
}

/** May `who` publish to (or receive a message on) this concrete topic? */
export function mayAccess(prefix: string, who: Identity, access: "read" | "write", topic: string): boolean {
  // A username with '/', '+' or '#' would widen its own rules: such names never authenticate
  // (embeddedBroker.ts), and this refuses them again for safety.
  if (/[/+#]/.test(who.username)) return false;
  return allowedFilters(prefix, who, access).some((filter) => topicMatches(filter, topic));
}
