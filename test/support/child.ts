import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A child process whose stdout lines can be awaited. */
export interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen so far or later) that matches; rejects if the child exits first. */
  line(match: (l: string) => boolean): Promise<string>;
  exited: Promise<number | null>;
}

export function spawnChild(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Child {
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env, cwd });
  const lines: string[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }>();
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters)
      if (w.match(l)) {
        waiters.delete(w);
        w.resolve(l);
      }
  });
  void exited.then((code) => {
    for (const w of waiters) w.reject(new Error(`child exited (${code}) before the expected line; last: ${lines.slice(-3).join(" | ")}`));
    waiters.clear();
  });
  return {
    proc,
    lines,
    exited,
    line(match) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.reject(new Error("child already exited"));
      return new Promise((resolve, reject) => waiters.add({ match, resolve, reject }));
    },
  };
}
