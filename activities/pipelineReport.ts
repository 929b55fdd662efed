/**
 * A pipeline's report: the DAG drawn as SVG with each node's state (done, reused, running, failed …), a table
 * of the nodes with what they produced, and the comparison table of every sweep; built as a store step and
 * published to `<workdir>/report/<name>.pipeline/`, beside the reports of its campaigns.
 */
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ArtifactRef } from '../io/artifacts.ts';
import { type DagNode, type NodeState, dagDepths } from '../model/pipelineDag.ts';
import { readJsonArtifact, runCampaignStep, type Reuse } from './common.ts';
import { publish } from './report.ts';
import { type SweepTableFile, tableCells } from './sweepTable.ts';

export interface ReportNode extends DagNode {
  /** Output name → a file it names (maps, lists, tables; the first file of each output). */
  files: Record<string, string>;
  /** The child workflow the node ran as (campaigns, sweep members). */
  workflowId?: string;
  /** A campaign's published report. */
  campaignReport?: string;
  /** A sweep's table (SweepTableFile JSON). */
  table?: ArtifactRef;
}

export interface PipelineReportInput {
  workdir: string;
  name: string;
  workflowId: string;
  state: string;
  nodes: ReportNode[];
}

export interface PipelineReportResult extends Reuse {
  /** index.html of the published report. */
  published: string;
}

const FILL: Record<NodeState, string> = {
  waiting: '#eeeeee',
  running: '#fff59d',
  done: '#c8e6c9',
  reused: '#bbdefb',
  failed: '#ffcdd2',
  skipped: '#f5f5f5',
  cancelled: '#e0e0e0',
};

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The DAG left to right (a column per depth), each node a box coloured by its state, edges from inputs to users. */
export function dagSvg(nodes: readonly DagNode[], title: string): string {
  const depth = dagDepths(nodes);
  const [w, h, colGap, rowGap, margin, top] = [210, 48, 56, 14, 16, 40];
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    const d = depth.get(n.name) ?? 0;
    const row = rows.get(d) ?? 0;
    rows.set(d, row + 1);
    at.set(n.name, { x: margin + d * (w + colGap), y: top + row * (h + rowGap) });
  }
  const width = margin * 2 + (Math.max(0, ...depth.values()) + 1) * (w + colGap) - colGap;
  const height = top + Math.max(1, ...rows.values()) * (h + rowGap) + margin;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>',
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${margin}" y="22" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (const n of nodes) {
    const to = at.get(n.name)!;
    for (const d of n.deps) {
      const from = at.get(d);
      if (!from) continue;
      const [x1, y1, x2, y2] = [from.x + w, from.y + h / 2, to.x, to.y + h / 2];
      const mid = (x1 + x2) / 2;
      parts.push(`<path d="M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}" fill="none" stroke="#999" marker-end="url(#arrow)"/>`);
    }
  }
  for (const n of nodes) {
    const { x, y } = at.get(n.name)!;
    const dash = n.state === 'skipped' || n.state === 'waiting' ? ' stroke-dasharray="4 3"' : '';
    parts.push(
      `<g><title>${escapeXml(`${n.name} (${n.type}): ${n.state}${n.detail ? ` — ${n.detail}` : ''}`)}</title>` +
        `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="${FILL[n.state]}" stroke="#555"${dash}/>` +
        `<text x="${x + 8}" y="${y + 18}" font-weight="bold">${escapeXml(clip(n.name, 30))}</text>` +
        `<text x="${x + 8}" y="${y + 36}">${escapeXml(clip(`${n.type} · ${n.state}${n.detail ? ` · ${n.detail}` : ''}`, 34))}</text></g>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function htmlTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const row = (cells: readonly string[], tag: string) => `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
  return `<table>${row(header, 'th')}\n${body.map((r) => row(r, 'td')).join('\n')}</table>`;
}

async function indexHtml(input: PipelineReportInput, reportDir: string): Promise<string> {
  const link = (path: string, text: string) => `<a href="${escapeXml(relative(reportDir, path))}">${escapeXml(text)}</a>`;
  const counts = new Map<string, number>();
  for (const n of input.nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
  const nodeRows = input.nodes.map((n) => [
    `${n.sweep ? '&nbsp;&nbsp;' : ''}${escapeXml(n.name)}`,
    escapeXml(n.type),
    `<span style="background:${FILL[n.state]}">${n.state}</span>`,
    escapeXml(n.deps.join(', ')),
    escapeXml(n.detail ?? ''),
    [
      ...Object.entries(n.files).map(([name, path]) => link(path, name)),
      ...(n.campaignReport ? [link(n.campaignReport, 'campaign report')] : []),
      ...(n.workflowId ? [`<code>${escapeXml(n.workflowId)}</code>`] : []),
    ].join(' '),
  ]);
  const sweeps: string[] = [];
  for (const n of input.nodes.filter((x) => x.table)) {
    const file = await readJsonArtifact<SweepTableFile>(n.table!, `table of sweep ${n.name}`);
    const { header, body } = tableCells(file);
    sweeps.push(`<h2>Sweep ${escapeXml(n.name)}</h2>\n${htmlTable(header.map(escapeXml), body.map((r) => r.map(escapeXml)))}`);
  }
  const name = escapeXml(input.name);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>subtomo pipeline ${name}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left;vertical-align:top}code{font-size:90%}</style>
</head><body>
<h1>Pipeline ${name}</h1>
<p>Workflow <code>${escapeXml(input.workflowId)}</code>: ${escapeXml(input.state)}; nodes ${[...counts].map(([s, c]) => `${c} ${s}`).join(', ')}.
A node is <em>reused</em> when every step came from the artifact store (or a completed child workflow was adopted), <em>done</em> when
something was computed; <em>skipped</em> nodes waited for an input that failed.</p>
<p><img src="dag.svg" alt="the pipeline's DAG"></p>
${htmlTable(['node', 'type', 'state', 'needs', 'result', 'outputs'], nodeRows)}
${sweeps.join('\n')}
</body></html>
`;
}

/** Writes and publishes the report of a pipeline in the state `input` describes. */
export async function pipelineReport(input: PipelineReportInput): Promise<PipelineReportResult> {
  const dirName = `${input.name}.pipeline`;
  // The published copy is where the links must hold.
  const reportDir = join(input.workdir, 'report', dirName);
  const tables = Object.fromEntries(input.nodes.flatMap((n) => (n.table ? [[`table:${n.name}`, n.table]] : [])));
  const step = await runCampaignStep(input.workdir, 'pipeline-report', { ...input, nodes: input.nodes.map(({ table: _t, ...n }) => n) }, tables, async (dir) => {
    await writeFile(join(dir, 'dag.svg'), dagSvg(input.nodes, `pipeline ${input.name}: ${input.state}`));
    await writeFile(join(dir, 'index.html'), await indexHtml(input, reportDir));
    return { dag: 'dag.svg', index: 'index.html' };
  });
  const published = await publish(input.workdir, dirName, step.outputs);
  return { published, reused: step.reused };
}
