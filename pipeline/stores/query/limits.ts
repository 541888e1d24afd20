import { InputError } from "../../../core/errors.js";

/**
 * What one user query may return. Checked where the rows are produced (the
 * query process), so no result, however large, reaches the main process.
 */
export const RESULT_LIMITS = {
  /** Characters in one cell (a JSON column of a window row is a few hundred). */
  cellChars: 10_000,
  /** Bytes of the whole result, approximated as UTF-16 code units of text plus 8 per other value. */
  bytes: 1 << 20,
  /**
   * Memory of the query process (its data segment: JavaScript heaps and
   * SQLite's allocations; about 170 MiB of it is Node itself). SQLite's own
   * heap limit cannot help: better-sqlite3 builds it without memory statistics.
   */
  memoryMb: 512,
  /** The JavaScript heap of the thread that runs the query. */
  heapMb: 128,
} as const;

export const tooLarge = (what: string) =>
  new InputError(
    `result too large: ${what}. Limits: ${RESULT_LIMITS.cellChars} characters per cell, ${RESULT_LIMITS.bytes / (1 << 20)} MiB per result, ` +
      `${RESULT_LIMITS.memoryMb} MiB of memory per query; select fewer rows or columns, or shorter values (substr).`,
  );

/** Accumulates a result's rows, refusing as soon as a cell or the whole passes its limit. */
export class ResultBudget {
  private bytes = 0;

  /** Returns the row with its values made plain (bigint → number, blob → its size), or throws `tooLarge`. */
  add(row: readonly unknown[]): unknown[] {
    const out = new Array<unknown>(row.length);
    for (let i = 0; i < row.length; i++) {
      let v = row[i];
      if (typeof v === "bigint") v = Number(v);
      else if (v instanceof Uint8Array) v = `<${v.length} bytes>`;
      else if (v !== null && typeof v === "object") v = JSON.stringify(v);
      if (typeof v === "string") {
        // .length, never a spread: measuring must not copy the cell.
        if (v.length > RESULT_LIMITS.cellChars) throw tooLarge(`a cell has ${v.length} characters`);
        this.bytes += v.length;
      } else this.bytes += 8;
      out[i] = v;
    }
    if (this.bytes > RESULT_LIMITS.bytes) throw tooLarge(`more than ${RESULT_LIMITS.bytes} bytes`);
    return out;
  }
}
