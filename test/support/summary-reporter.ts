import { relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * After vitest's own report: each test file's time, slowest first (so CI's
 * log shows where its budget goes), then the plain closing line
 * "N passed, N failed, N skipped" that CI reads.
 */
export default class SummaryReporter implements Reporter {
  private started = performance.now();

  onTestRunStart(): void {
    this.started = performance.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    const files: { file: string; ms: number; state: string }[] = [];
    for (const m of modules) {
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed") count.passed++;
        else if (state === "failed") failedHere++;
        else count.skipped++;
      }
      // A file that failed to load, or whose beforeAll threw, fails though its tests only show as skipped.
      if (m.state() === "failed" && failedHere === 0) failedHere = 1;
      count.failed += failedHere;
      // A file's own wall time: its environment, imports and setup, then its tests and hooks.
      const d = m.diagnostic();
      files.push({
        file: relative(process.cwd(), m.moduleId),
        ms: d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration,
        state: m.state(),
      });
    }
    count.failed += unhandledErrors.length;
    files.sort((a, b) => b.ms - a.ms);
    const width = Math.max(...files.map((f) => seconds(f.ms).length), 0);
    const lines = files.map((f) => `  ${seconds(f.ms).padStart(width)}  ${f.file}${f.state === "passed" ? "" : ` (${f.state})`}`);
    const total = files.reduce((a, f) => a + f.ms, 0);
    process.stdout.write(
      `\nTest files by time (${files.length} files, ${seconds(total)} in all, ${seconds(performance.now() - this.started)} wall):\n${lines.join("\n")}\n`,
    );
    process.stdout.write(`\n${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped\n`);
  }
}
