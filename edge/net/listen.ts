/**
 * Listen on a port, as a promise that rejects with a message naming what
 * could not listen and why (EADDRINUSE, EACCES...): the embedded broker and
 * the dashboard both need exactly this, and the start-up error a user sees.
 */
import type net from "node:net";

export async function listen(server: net.Server, port: number, host: string, what: string): Promise<net.AddressInfo> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${what} cannot listen on ${host}:${port}: ${e.code ?? e.message}`, { cause: err });
  }
  return server.address() as net.AddressInfo;
}
