/**
 * The memory probe's split of RSS (edge/bench/memoryProbe.ts), in a module of
 * its own: the probe runs its main() when imported, so the pure parsing that a
 * test checks lives here.
 */

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Pure: RssAnon and RssFile (+ RssShmem) of a /proc/<pid>/status text, in MB; {} when absent. */
export function rssKindsOf(status: string): { rssAnonMb?: number; rssFileMb?: number } {
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return m ? Number(m[1]) : undefined;
  };
  const anon = kb("RssAnon");
  const file = kb("RssFile");
  if (anon === undefined || file === undefined) return {};
  return { rssAnonMb: mb(anon * 1024), rssFileMb: mb((file + (kb("RssShmem") ?? 0)) * 1024) };
}
