import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where tests leave screenshots and rendered charts for people to look at (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-artifacts");

export function saveArtifact(name: string, content: Buffer | string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(path, content);
  return path;
}
