/** Small dependency-free SVG line charts for FSC curves, resolution-per-iteration and benchmark plots. */

export interface Series {
  label: string;
  x: readonly number[];
  y: readonly number[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Horizontal reference lines, e.g. FSC 0.143 and 0.5. */
  hLines?: readonly { y: number; label: string }[];
  yRange?: readonly [number, number];
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 640;
  const height = chart.height ?? 400;
  const left = 64;
  const right = 160;
  const top = 36;
  const bottom = 48;
  const xs = chart.series.flatMap((s) => s.x);
  const ys = chart.series.flatMap((s) => s.y).filter(Number.isFinite);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const [yMin, yMax] = chart.yRange ?? [Math.min(...ys), Math.max(...ys)];
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin || 1)) * (width - left - right);
  const py = (y: number) => height - bottom - ((y - yMin) / (yMax - yMin || 1)) * (height - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(chart.title)}</text>`,
  ];
  for (const t of niceTicks(xMin, xMax)) {
    parts.push(`<line x1="${px(t)}" y1="${height - bottom}" x2="${px(t)}" y2="${top}" stroke="#eee"/>`);
    parts.push(`<text x="${px(t)}" y="${height - bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${left}" y1="${py(t)}" x2="${width - right}" y2="${py(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(16 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  for (const h of chart.hLines ?? []) {
    parts.push(`<line x1="${left}" y1="${py(h.y)}" x2="${width - right}" y2="${py(h.y)}" stroke="#888" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${width - right - 4}" y="${py(h.y) - 4}" text-anchor="end" fill="#666">${escapeXml(h.label)}</text>`);
  }
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.x
      .map((x, j) => [x, s.y[j]] as const)
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${colour}"/>`);
    }
    const ly = top + 16 + i * 18;
    parts.push(`<line x1="${width - right + 12}" y1="${ly - 4}" x2="${width - right + 32}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${width - right + 38}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
