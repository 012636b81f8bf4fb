import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Serial (socat) and broker (mosquitto) tests use real processes and ports.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
