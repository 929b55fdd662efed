/**
 * Campaign report: central x/y/z slices of every iteration's combined average (PNG), the FSC curves and the
 * resolution per iteration (SVG), and one index.html linking them. Built as a store step, then published to
 * `<workdir>/report/<campaign name>/` so users find the latest report at a fixed path.
 */
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { lowpassToResolution } from '../core/filters.ts';
import { FSC_GOLD_STANDARD, FSC_HALF } from '../core/fsc.ts';
import { SLICE_AXES as AXES, centralSlice } from '../core/volume.ts';
import type { ArtifactRef } from '../io/artifacts.ts';
import { halvesWarning } from '../model/campaign.ts';
import { lineChartSvg } from '../io/plot.ts';
import { floatImageToPng } from '../io/png.ts';
import { readJsonArtifact, readVolumeArtifact, reportProgress, runCampaignStep, type Reuse } from './common.ts';
import type { FscFile } from './references.ts';

export interface ReportIteration {
  iteration: number;
  combined: ArtifactRef;
  fsc: ArtifactRef;
  resolution0143: number;
  resolution05: number;
  /** Absent for iteration 0 (the start). */
  meanCcc?: number;
  /** Angle between the two half maps, radians (workflows/campaign.ts IterationSummary); absent for iteration 0. */
  halvesAngle?: number;
}

export interface ReportInput {
  workdir: string;
  name: string;
  iterations: ReportIteration[];
}

export interface ReportResult extends Reuse {
  index: ArtifactRef;
  /** index.html of the published copy. */
  published: string;
}

const fmt = (x: number) => x.toFixed(1);

function indexHtml(input: ReportInput, best: ReportIteration): string {
  const rows = input.iterations.map((it) => {
    const slices = AXES.map((a) => `<img src="iteration-${it.iteration}-${a}.png" alt="${a} slice" title="central ${a} slice">`).join('');
    return `<tr><td>${it.iteration === 0 ? '0 (start)' : it.iteration}</td><td>${fmt(it.resolution0143)}</td><td>${fmt(it.resolution05)}</td>` +
      `<td>${it.meanCcc === undefined ? '–' : it.meanCcc.toFixed(3)}</td>` +
      `<td>${it.halvesAngle === undefined ? '–' : fmt((it.halvesAngle * 180) / Math.PI)}</td><td>${slices}</td></tr>`;
  });
  const warnings = input.iterations.flatMap((it) => {
    const warning = halvesWarning(it.halvesAngle);
    return warning ? [`<p class="warning">Iteration ${it.iteration}: ${warning}.</p>`] : [];
  });
  const name = input.name.replace(/[<>&]/g, '');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>subtomo campaign ${name}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}img{margin-right:4px;vertical-align:middle}.warning{color:#a00;font-weight:bold}</style>
</head><body>
<h1>Campaign ${name}</h1>
<p>Best gold-standard resolution ${fmt(best.resolution0143)} Å (FSC 0.143, iteration ${best.iteration}).
FSC between the independently refined half-set averages inside the soft alignment mask; crossings are
linearly interpolated between shells. Iteration 0 is the start: each half averaged with the initial (random,
identity or the list's) poses; a campaign that starts from a reference map has none. The half maps' angle is
the rotation that registers the even map onto the odd one, from the maps alone. Slices: central x (y–z plane), y (x–z) and z (x–y) sections of the
combined average, low-pass filtered at that iteration's resolution, protein white.</p>
${warnings.join('\n')}
<p><img src="resolution.svg" alt="resolution per iteration"> <img src="fsc.svg" alt="FSC curves"></p>
<table><tr><th>iteration</th><th>FSC 0.143 (Å)</th><th>FSC 0.5 (Å)</th><th>mean CCC</th><th>half maps apart (°)</th><th>central slices x, y, z</th></tr>
${rows.join('\n')}
</table></body></html>
`;
}

export async function report(input: ReportInput): Promise<ReportResult> {
  if (input.iterations.length === 0) throw new Error('report: no iteration has finished yet');
  const inputs: Record<string, ArtifactRef> = {};
  for (const it of input.iterations) {
    inputs[`combined${it.iteration}`] = it.combined;
    inputs[`fsc${it.iteration}`] = it.fsc;
  }
  const params = { name: input.name, iterations: input.iterations.map(({ combined: _c, fsc: _f, ...numbers }) => numbers) };
  const step = await runCampaignStep(input.workdir, 'report', params, inputs, async (dir) => {
    const outputs: Record<string, string> = {};
    const curves: { label: string; x: number[]; y: number[] }[] = [];
    for (const [k, it] of input.iterations.entries()) {
      const combined = await readVolumeArtifact(it.combined, `combined average of iteration ${it.iteration}`);
      const shown = lowpassToResolution(combined, it.resolution0143);
      for (const axis of AXES) {
        const file = `iteration-${it.iteration}-${axis}.png`;
        const s = centralSlice(shown, axis);
        await writeFile(join(dir, file), floatImageToPng(s.values, s.width, s.height, Math.max(1, Math.round(192 / s.width))));
        outputs[file] = file;
      }
      const curve = await readJsonArtifact<FscFile>(it.fsc, `FSC curve of iteration ${it.iteration}`);
      curves.push({ label: `iteration ${it.iteration}`, x: curve.spatialFrequency, y: curve.fsc });
      await reportProgress({ step: 'report', done: k + 1, total: input.iterations.length });
    }
    await writeFile(join(dir, 'fsc.svg'), lineChartSvg({
      title: 'Gold-standard FSC of the half-set averages',
      xLabel: 'spatial frequency (1/Å)',
      yLabel: 'FSC',
      series: curves,
      hLines: [{ y: FSC_GOLD_STANDARD, label: '0.143' }, { y: FSC_HALF, label: '0.5' }],
      yRange: [-0.2, 1],
    }));
    const its = input.iterations.map((it) => it.iteration);
    await writeFile(join(dir, 'resolution.svg'), lineChartSvg({
      title: 'Resolution per iteration',
      xLabel: 'iteration',
      yLabel: 'resolution (Å)',
      series: [
        { label: 'FSC 0.143', x: its, y: input.iterations.map((it) => it.resolution0143) },
        { label: 'FSC 0.5', x: its, y: input.iterations.map((it) => it.resolution05) },
      ],
    }));
    const aligned = input.iterations.filter((it) => it.iteration > 0);
    const best = (aligned.length > 0 ? aligned : input.iterations).reduce((a, b) => (b.resolution0143 < a.resolution0143 ? b : a));
    await writeFile(join(dir, 'index.html'), indexHtml(input, best));
    return { ...outputs, fsc: 'fsc.svg', resolution: 'resolution.svg', index: 'index.html' };
  });
  const published = await publish(input.workdir, input.name, step.outputs);
  return { index: step.outputs.index, published, reused: step.reused };
}

/** Replaces `<workdir>/report/<name>/` with a copy of the report's files (whole directory swapped by rename). */
export async function publish(workdir: string, name: string, outputs: Record<string, ArtifactRef>): Promise<string> {
  const root = join(workdir, 'report');
  const target = join(root, name);
  const staging = join(root, `.${name}.${process.pid}.staging`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const ref of Object.values(outputs)) await copyFile(ref.path, join(staging, basename(ref.path)));
  const old = join(root, `.${name}.${process.pid}.old`);
  const existing = await readdir(target).then(() => true, () => false);
  if (existing) await rename(target, old);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
  return join(target, 'index.html');
}
