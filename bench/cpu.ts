import { readFileSync } from "node:fs";

/** CPU seconds (user + system, all threads) a process has used so far; null where there is no /proc (not Linux) or no process. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces: count fields after it (field 3 onwards).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime (fields 14 and 15), in clock ticks of 1/100 s on Linux.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** CPU seconds used by each named process between the call and the returned function's call. */
export function cpuMeter(pids: Record<string, number | undefined>): () => Record<string, number | null> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid === undefined ? null : cpuSeconds(pid)]));
  return () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => {
        const now = pid === undefined ? null : cpuSeconds(pid);
        const was = before[name];
        return [name, now === null || was == null ? null : now - was];
      }),
    );
}
