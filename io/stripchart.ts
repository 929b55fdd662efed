/**
 * Grouped strip chart as a dependency-free SVG: for each group (e.g. a benchmark condition) one column of
 * points per series (e.g. a method), every observation drawn, with a bar at the series' median. Meant for
 * per-particle errors, where a mean alone hides the few particles that failed.
 *
 * Points are spread sideways by their rank within the column (a fixed pattern, not random jitter), so the
 * same data always draws the same picture. On a log axis, values at or below `logFloor` are drawn at the
 * floor (a perfect 0° error has no logarithm).
 */

export interface StripSeries {
  label: string;
  /** values[g] = the observations of this series in group g. */
  values: readonly (readonly number[])[];
}

export interface StripChart {
  title: string;
  yLabel: string;
  groups: readonly string[];
  series: readonly StripSeries[];
  /** Logarithmic y axis (base 10). */
  logY?: boolean;
  /** Smallest value drawn on a log axis; default the smallest positive value. */
  logFloor?: number;
  /** Dashed horizontal reference lines, e.g. an acceptance threshold. */
  hLines?: readonly { y: number; label: string }[];
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function linearTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(+t.toPrecision(12));
    }
  }
  return ticks;
}

export function stripChartSvg(chart: StripChart): string {
  const { groups, series } = chart;
  if (groups.length === 0 || series.length === 0) throw new RangeError('strip chart: nothing to draw (no groups or no series)');
  for (const s of series) {
    if (s.values.length !== groups.length) {
      throw new RangeError(`strip chart: series '${s.label}' has ${s.values.length} groups of values, expected ${groups.length}`);
    }
  }
  const width = chart.width ?? Math.max(640, 120 + groups.length * (40 + 36 * series.length));
  const height = chart.height ?? 420;
  const left = 64;
  const right = 130;
  const top = 36;
  const bottom = 56;
  const all = series.flatMap((s) => s.values.flat()).filter(Number.isFinite);
  const refs = (chart.hLines ?? []).map((h) => h.y);
  let yMin: number;
  let yMax: number;
  let map: (y: number) => number;
  if (chart.logY) {
    const positives = [...all, ...refs].filter((v) => v > 0);
    const floor = chart.logFloor ?? (positives.length ? Math.min(...positives) : 1);
    yMin = 10 ** Math.floor(Math.log10(floor));
    yMax = 10 ** Math.ceil(Math.log10(Math.max(floor, ...positives)));
    map = (y) => Math.log10(Math.max(y, floor));
  } else {
    yMin = Math.min(0, ...all, ...refs);
    yMax = Math.max(...all, ...refs);
    if (!(yMax > yMin)) yMax = yMin + 1;
    map = (y) => y;
  }
  const lo = map(yMin);
  const hi = map(yMax);
  const py = (y: number): number => height - bottom - ((map(y) - lo) / (hi - lo || 1)) * (height - top - bottom);
  const plotWidth = width - left - right;
  const groupWidth = plotWidth / groups.length;
  const columnWidth = (groupWidth * 0.8) / series.length;
  const columnX = (g: number, s: number): number => left + g * groupWidth + groupWidth * 0.1 + (s + 0.5) * columnWidth;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(chart.title)}</text>`,
  ];
  for (const t of chart.logY ? logTicks(yMin, yMax) : linearTicks(yMin, yMax)) {
    parts.push(`<line x1="${left}" y1="${py(t).toFixed(1)}" x2="${width - right}" y2="${py(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  groups.forEach((label, g) => {
    const x = left + (g + 0.5) * groupWidth;
    if (g > 0) parts.push(`<line x1="${left + g * groupWidth}" y1="${top}" x2="${left + g * groupWidth}" y2="${height - bottom}" stroke="#ccc"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${height - bottom + 18}" text-anchor="middle">${escapeXml(label)}</text>`);
  });
  parts.push(
    `<rect x="${left}" y="${top}" width="${plotWidth}" height="${height - top - bottom}" fill="none" stroke="#333"/>`,
    `<text transform="translate(16 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  for (const h of chart.hLines ?? []) {
    parts.push(`<line x1="${left}" y1="${py(h.y).toFixed(1)}" x2="${width - right}" y2="${py(h.y).toFixed(1)}" stroke="#888" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${width - right + 4}" y="${(py(h.y) + 4).toFixed(1)}" fill="#666">${escapeXml(h.label)}</text>`);
  }
  series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length];
    s.values.forEach((raw, g) => {
      const values = raw.filter(Number.isFinite);
      if (values.length === 0) return;
      const cx = columnX(g, k);
      const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
      const spread = columnWidth * 0.35;
      order.forEach(([v], rank) => {
        // Alternate sides by rank so neighbours in value do not overlap.
        const offset = values.length > 1 ? (((rank % 5) - 2) / 2) * spread : 0;
        parts.push(`<circle cx="${(cx + offset).toFixed(1)}" cy="${py(v).toFixed(1)}" r="2.5" fill="${colour}" fill-opacity="0.6"/>`);
      });
      const m = py(median(values)).toFixed(1);
      parts.push(`<line x1="${(cx - columnWidth * 0.45).toFixed(1)}" y1="${m}" x2="${(cx + columnWidth * 0.45).toFixed(1)}" y2="${m}" stroke="${colour}" stroke-width="2.5"/>`);
    });
    const ly = top + 16 + k * 18;
    parts.push(`<circle cx="${width - right + 18}" cy="${ly - 4}" r="4" fill="${colour}"/>`);
    parts.push(`<text x="${width - right + 28}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  parts.push(
    `<text x="${width - right + 8}" y="${top + 16 + series.length * 18 + 10}" fill="#666" font-size="11">bar = median</text>`,
    '</svg>',
  );
  return parts.join('\n');
}
