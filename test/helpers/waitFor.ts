/**
 * Poll `probe` every 20 ms until it returns a value (anything but undefined or
 * false) and return it; after `timeoutMs` fail with "timed out waiting for
 * <what>". For conditions on real brokers and processes, whose timing varies.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
