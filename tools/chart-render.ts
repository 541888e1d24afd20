import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { TopLevelSpec } from "vega-lite";

// Loaded on first use: vega is large, and most processes draw no chart.
const libs = () => Promise.all([import("vega"), import("vega-lite"), import("@resvg/resvg-js")]);

/** The font every chart uses: DejaVu Sans from the dejavu-fonts-ttf npm package (installed with the project, never the system's). */
export const CHART_FONT = "DejaVu Sans";

let fontFiles: string[] | null = null;

/** The TrueType files resvg loads; throws naming the package when they are missing. */
export function chartFonts(): string[] {
  if (fontFiles) return fontFiles;
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve("dejavu-fonts-ttf/package.json")), "ttf");
  const files = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"].map((f) => join(dir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`chart fonts missing (${missing.join(", ")}): run npm install (package dejavu-fonts-ttf)`);
  fontFiles = files;
  return files;
}

/** Defaults every spec gets: the shipped font, a white background, a readable size. */
const BASE_CONFIG = {
  font: CHART_FONT,
  background: "white",
  padding: 12,
  title: { fontSize: 15, anchor: "start", offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e8e8e8" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: null },
} as const;

/** vega-lite → vega → SVG, server-side with no browser (vega's headless view). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await libs();
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const compiled = vl.compile(withConfig).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG → PNG with resvg and the shipped fonts, at `scale` (2: sharp on phones). */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  const [, , { Resvg }] = await libs();
  const resvg = new Resvg(svg, {
    font: { fontFiles: chartFonts(), loadSystemFonts: false, defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
    fitTo: { mode: "zoom", value: scale },
    background: "white",
  });
  return Buffer.from(resvg.render().asPng());
}

export async function renderPng(spec: TopLevelSpec, scale = 2): Promise<Buffer> {
  return svgToPng(await renderSvg(spec), scale);
}
