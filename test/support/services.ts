import { describe } from "vitest";

/**
 * `describe` for suites that need a real server (Kafka, Trino): skipped with
 * a loud message where it cannot run here, and failing instead on CI, where
 * a missing server is a failure.
 */
export function describeWithService(name: string, unavailable: string | null, hint: string, fn: () => void): void {
  if (unavailable && process.env.CI) {
    describe(name, () => {
      throw new Error(`${name} cannot run on CI: ${unavailable}`);
    });
    return;
  }
  if (unavailable) {
    const bar = "!".repeat(78);
    console.warn(`\n${bar}\n!! SKIPPING "${name}": ${unavailable}.\n!! ${hint}\n${bar}\n`);
    describe.skip(name, fn);
    return;
  }
  describe(name, fn);
}
