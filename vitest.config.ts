import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Serial (socat) and broker (mosquitto) tests use real processes and ports.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // A fresh worker per file, chosen explicitly (vitest 5 suggests isolate:
    // false to save the spawns): files start brokers, serial pairs and OTA
    // stores with module-level state that must not leak into the next file.
    isolate: true,
  },
});
