// The launcher lives with the benchmark, which needs a real broker too.
export * from "../../edge/bench/mosquitto.js";
