/**
 * A small hand-written SVG line plot with logarithmic axes, for benchmark figures.
 *
 * @module
 */

/** One line of a plot. */
export interface PlotSeries {
  name: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

/** Options of logLogSvg. */
export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  width?: number;
  height?: number;
}

function _escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function _tick(value: number): string {
  const exponent = Math.round(Math.log10(value));
  return `1e${exponent}`;
}

/** Renders the series on log-log axes as an SVG document. */
export function logLogSvg(options: PlotOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 560;
  const left = 80;
  const right = 260;
  const top = 50;
  const bottom = 60;
  const xs = options.series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const ys = options.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const xMin = Math.floor(Math.log10(Math.min(...xs)));
  const xMax = Math.ceil(Math.log10(Math.max(...xs)));
  const yMin = Math.floor(Math.log10(Math.min(...ys)));
  const yMax = Math.ceil(Math.log10(Math.max(...ys)));
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const x = (v: number) => left + ((Math.log10(v) - xMin) / Math.max(1, xMax - xMin)) * plotWidth;
  const y = (v: number) =>
    top + plotHeight - ((Math.log10(v) - yMin) / Math.max(1, yMax - yMin)) * plotHeight;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(
    `<text x="${width / 2 - right / 2}" y="25" text-anchor="middle" font-size="15">${
      _escape(options.title)
    }</text>`,
  );
  for (let e = xMin; e <= xMax; e++) {
    const px = x(10 ** e);
    parts.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${top + plotHeight}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${px}" y="${top + plotHeight + 18}" text-anchor="middle">${_tick(10 ** e)}</text>`,
    );
  }
  for (let e = yMin; e <= yMax; e++) {
    const py = y(10 ** e);
    parts.push(`<line x1="${left}" y1="${py}" x2="${left + plotWidth}" y2="${py}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${py + 4}" text-anchor="end">${_tick(10 ** e)}</text>`);
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${left + plotWidth / 2}" y="${height - 15}" text-anchor="middle">${
      _escape(options.xLabel)
    }</text>`,
  );
  parts.push(
    `<text x="18" y="${top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${
      top + plotHeight / 2
    })">${_escape(options.yLabel)}</text>`,
  );
  options.series.forEach((series, i) => {
    const points = series.points.filter((p) => p[0] > 0 && p[1] > 0);
    const path = points.map((p, j) =>
      `${j === 0 ? "M" : "L"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`
    ).join(" ");
    const dash = series.dashed ? ` stroke-dasharray="6 4"` : "";
    parts.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
    for (const p of points) {
      parts.push(
        `<circle cx="${x(p[0]).toFixed(1)}" cy="${
          y(p[1]).toFixed(1)
        }" r="3" fill="${series.color}"/>`,
      );
    }
    const ly = top + 10 + i * 20;
    const lx = left + plotWidth + 15;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${
        lx + 25
      }" y2="${ly}" stroke="${series.color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${lx + 32}" y="${ly + 4}">${_escape(series.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
