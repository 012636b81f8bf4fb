/**
 * The embedded broker's ACL (edge/mqtt/embeddedAcl.ts) must say what the
 * shipped mosquitto ACL (deploy/mosquitto/acl) says: a device behind either
 * broker is exposed the same way. Read from the file, so editing one without
 * the other fails here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { allowedFilters, mayAccess, type Identity } from "../../edge/mqtt/embeddedAcl.js";
import { TOPIC_SUFFIXES, topicsFor } from "../../edge/mqtt/topics.js";

type Rules = { read: string[]; write: string[] };

/** pattern lines (every user, %u = username) and the topic lines of each `user` block. */
function shippedAcl(): { patterns: Rules; users: Record<string, Rules> } {
  const text = readFileSync(path.resolve(import.meta.dirname, "../../deploy/mosquitto/acl"), "utf8");
  const patterns: Rules = { read: [], write: [] };
  const users: Record<string, Rules> = {};
  let user: Rules | undefined;
  for (const line of text.split("\n").map((l) => l.trim())) {
    const [kind, ...rest] = line.split(/\s+/);
    if (kind === "user") users[rest[0] ?? ""] = user = { read: [], write: [] };
    const [access, topic] = rest.length === 2 ? rest : ["readwrite", rest[0]];
    const target = kind === "pattern" ? patterns : kind === "topic" ? user : undefined;
    if (!target || !topic || (access !== "read" && access !== "write")) continue;
    target[access].push(topic);
  }
  return { patterns, users };
}

const sorted = (xs: string[]) => [...xs].sort();

describe("the embedded broker's ACL", () => {
  const acl = shippedAcl();

  it("lets a device publish every topic of the device's topic map (a new topic without an ACL line would be refused on the broker)", () => {
    const device: Identity = { username: "pi-01", role: "device" };
    const topics = topicsFor("gait", "pi-01");
    const published = TOPIC_SUFFIXES.filter((s) => s !== "command"); // the one the device reads
    for (const suffix of published) expect({ suffix, allowed: mayAccess("gait", device, "write", topics[suffix]) }).toEqual({ suffix, allowed: true });
    expect(mayAccess("gait", device, "read", topics.command)).toBe(true);
  });

  it("gives a device user exactly the shipped pattern lines, for its own username", () => {
    const device: Identity = { username: "pi-01", role: "device" };
    for (const access of ["read", "write"] as const) {
      expect(sorted(allowedFilters("gait", device, access))).toEqual(sorted(acl.patterns[access].map((t) => t.replace("%u", "pi-01"))));
    }
  });

  it("gives operator the ops block and viewer the dashboard block", () => {
    for (const [role, user] of [["operator", "ops"], ["viewer", "dashboard"]] as const) {
      for (const access of ["read", "write"] as const) {
        expect(sorted(allowedFilters("gait", { username: "x", role }, access))).toEqual(sorted(acl.users[user]?.[access] ?? []));
      }
    }
  });

  it("keeps devices off each other's topics and $SYS, and usernames from widening their own rules", () => {
    const device: Identity = { username: "pi-02", role: "device" };
    expect(mayAccess("gait", device, "write", "gait/pi-02/angles")).toBe(true);
    expect(mayAccess("gait", device, "write", "gait/pi-01/angles")).toBe(false);
    expect(mayAccess("gait", device, "read", "gait/pi-01/command")).toBe(false);
    expect(mayAccess("gait", device, "write", "gait/pi-02/command")).toBe(false); // commands come from operators
    expect(mayAccess("gait", { username: "ops", role: "operator" }, "write", "$SYS/x")).toBe(false);
    expect(mayAccess("gait", { username: "+", role: "device" }, "write", "gait/pi-01/status")).toBe(false);
  });

  it("lets the runtime's own client read its fleets' offers, which a device user may not", () => {
    expect(mayAccess("lab/gait", { username: "pi-01", role: "self" }, "read", "lab/gait/fleet/lab-a/ota/offer")).toBe(true);
    expect(mayAccess("lab/gait", { username: "pi-01", role: "device" }, "read", "lab/gait/fleet/lab-a/ota/offer")).toBe(false);
  });
});
