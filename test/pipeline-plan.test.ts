/**
 * Planning a pipeline (model/pipeline.ts, model/pipelineNodes.ts, app/pipelineClient.ts), without a server:
 * every node type's params validated as the campaign section they mirror with errors naming the node's own
 * field, sweeps expanded into named members, and the loader resolving paths (matrix values too) against the
 * file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePipeline } from '../app/pipelineClient.ts';
import { expandMatrix, planPipeline, type PipelineSpec } from '../model/pipeline.ts';
import type { AlignParams, CampaignParams, ClassifyParams, ListParams } from '../model/pipelineNodes.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'subtomo-plan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = (nodes: PipelineSpec['nodes']): PipelineSpec => ({ name: 'p', workdir: '/w', nodes });
const data = { type: 'simulate', params: { particles: 8, size: 32, voxel: 12 } };

describe('node params', () => {
  it('fill the defaults campaigns use and name the node field of a problem', () => {
    const plan = planPipeline(spec({ data, align: { type: 'align', inputs: { particles: 'data', reference: 'data.reference' }, params: { method: 'lm', mpiRanks: 3 } } }));
    const align = plan.nodes.find((n) => n.name === 'align')!.params as AlignParams;
    expect(align).toMatchObject({ alignment: { method: 'lm', candidates: 10, bandwidth: 32, maxShift: 6, mpiRanks: 3 }, mpi: { np: 3 }, lowpass: 60, seed: 1 });
    const problem = (params: Record<string, unknown>) => () =>
      planPipeline(spec({ data, align: { type: 'align', inputs: { particles: 'data', reference: 'data.reference' }, params } }));
    expect(problem({ method: 'slow' })).toThrow("pipeline node 'align', field 'params.method': must be one of sag, sag1, lm, chen, got 'slow'");
    expect(problem({ lowpass: -1 })).toThrow("pipeline node 'align', field 'params.lowpass': must be positive, got -1");
    expect(problem({ mask: { radius: -2 } })).toThrow("field 'params.mask.radius': must be positive");
    expect(problem({ methdo: 'sag' })).toThrow("field 'params.methdo': is not a known field");
    expect(problem({ angularRange: 10 })).toThrow("field 'params.angularRange': refines around known poses: connect the input 'priors'");
    expect(() => planPipeline(spec({ data: { type: 'simulate', params: { size: 33 } } }))).toThrow("pipeline node 'data', field 'params.size': must be an even integer");
  });

  it('extract and load read a list (the extract box is required); postprocess checks its sharpening', () => {
    const plan = planPipeline(spec({ ex: { type: 'extract', params: { star: '/d/p.star', tomograms: '/d/t.star', box: 64, binning: 2 } } }));
    expect((plan.nodes[0].params as ListParams).data).toEqual({ kind: 'star', star: '/d/p.star', tomograms: ['/d/t.star'], extract: { box: 64, binning: 2 } });
    expect(() => planPipeline(spec({ ex: { type: 'extract', params: { star: '/d/p.star' } } }))).toThrow("field 'params.box': is required");
    expect(() => planPipeline(spec({ ex: { type: 'extract', params: { star: '/d/p.star', box: 63 } } }))).toThrow("field 'params.box': must be an even integer");
    expect(() => planPipeline(spec({ l: { type: 'load', params: { star: 'rel.star' } } }))).toThrow("field 'params.star': must be an absolute path");
    const post = (params: Record<string, unknown>) => () => planPipeline(spec({
      data, a: { type: 'align', inputs: { particles: 'data', reference: 'data' } }, avg: { type: 'average', inputs: { particles: 'data', alignment: 'a' } },
      post: { type: 'postprocess', inputs: { halfMaps: 'avg' }, params },
    }));
    expect(post({ bfactor: 'sharp' })).toThrow("pipeline node 'post', field 'params.bfactor': must be 'auto' or a B-factor");
    expect(post({ fitFrom: 10, fitTo: 20 })).toThrow("field 'params.fitFrom': must be a coarser resolution");
    expect(post({ randomiseFrom: 30 })).toThrow("field 'params.randomiseFrom': applies to a masked FSC");
    expect(post({ bfactor: -500, symmetry: 'D7' })).not.toThrow();
  });

  it('classify takes the particles and their poses; its params are the campaign classification section with alignment settings', () => {
    const nodes = (params: Record<string, unknown>) => spec({
      data, a: { type: 'align', inputs: { particles: 'data', reference: 'data.reference' } },
      classes: { type: 'classify', inputs: { particles: 'data', alignment: 'a' }, params },
    });
    const plan = planPipeline(nodes({ classes: 4, temperature: 0.1, method: 'lm', symmetry: 'C7' }));
    const classify = plan.nodes.find((n) => n.name === 'classes')!.params as ClassifyParams;
    expect(classify.config).toMatchObject({ classification: { classes: 4, iterations: 5, temperature: 0.1 }, alignment: { method: 'lm' }, symmetry: 'C7' });
    expect(() => planPipeline(nodes({}))).toThrow("pipeline node 'classes', field 'params.classes': is required");
    expect(() => planPipeline(nodes({ classes: 0 }))).toThrow("field 'params.classes': must be an integer from 1 to 100, got 0");
    expect(() => planPipeline(nodes({ classes: 2, cooling: 2 }))).toThrow("field 'params.cooling': must be in (0, 1], got 2");
    expect(() => planPipeline(nodes({ classes: 2, angularRange: 5 }))).toThrow("field 'params.angularRange': is not a known field");
  });

  it("a campaign node's name prefixes its members' campaigns; two nodes may not share one", () => {
    const plan = planPipeline(spec({
      c: { type: 'campaign', params: { name: 'cmp', data: { particles: 8, size: 32 } }, matrix: { 'alignment.method': ['sag', 'lm'], seed: [1, 2] } },
    }));
    const members = plan.nodes.filter((n) => n.member);
    expect(members.map((n) => [n.name, n.campaignName])).toEqual([
      ['c[method=sag,seed=1]', 'cmp-sag-1'], ['c[method=sag,seed=2]', 'cmp-sag-2'], ['c[method=lm,seed=1]', 'cmp-lm-1'], ['c[method=lm,seed=2]', 'cmp-lm-2'],
    ]);
    expect((members[3].params as CampaignParams).config).toMatchObject({ alignment: { method: 'lm' }, seed: 2 });
    expect(plan.nodes.at(-1)).toMatchObject({ name: 'c', type: 'sweep', deps: members.map((m) => m.name), outputs: { table: 'table' } });
    expect(() => planPipeline(spec({ a: { type: 'campaign', params: { name: 'x', data: {} } }, b: { type: 'campaign', params: { name: 'x', data: {} } } })))
      .toThrow("pipeline node 'b', field 'params.name': gives the campaign name 'x', which 'a' has too");
    expect(() => planPipeline(spec({ a: { type: 'campaign', params: { data: {}, workdir: '/x' } } }))).toThrow("field 'params.workdir': is the pipeline's");
  });
});

describe('sweeps', () => {
  it('expand a matrix in order, label mappings by name, and refuse duplicates and huge matrices', () => {
    const members = expandMatrix('n', { 'a.b': [1, 2], cond: [{ name: 'x', 'c.d': true, e: 'y' }] });
    expect(members.map((m) => m.label)).toEqual(['b=1,cond=x', 'b=2,cond=x']);
    expect(members[1].sets).toEqual({ 'a.b': 2, 'c.d': true, e: 'y' });
    expect(() => expandMatrix('n', { a: [1, 1] })).toThrow("pipeline node 'n', field 'matrix': two members have the same values (a=1)");
    expect(() => expandMatrix('n', { a: Array.from({ length: 20 }, (_, i) => i), b: Array.from({ length: 20 }, (_, i) => i) })).toThrow('expands to 400 members');
  });

  it('offer only their table to other nodes, and take `parallel` only with a matrix', () => {
    const nodes = {
      data, a: { type: 'align', inputs: { particles: 'data', reference: 'data' }, matrix: { method: ['sag', 'lm'] } },
    };
    expect(() => planPipeline(spec({ ...nodes, avg: { type: 'average', inputs: { particles: 'data', alignment: 'a' } } })))
      .toThrow("pipeline node 'avg', field 'inputs.alignment': 'a' has no output of type alignment (outputs: table: table) ('a' is a sweep: it offers its comparison table)");
    expect(() => planPipeline(spec({ data: { ...data, parallel: 2 } }))).toThrow("pipeline node 'data', field 'parallel': limits how many members of a sweep run at once: it needs a matrix");
  });
});

describe('activity nodes', () => {
  it('declare their outputs, whose types other nodes check', () => {
    const nodes = { mine: { type: 'activity', activity: 'myStep', outputs: { result: 'map' } } } as PipelineSpec['nodes'];
    const plan = planPipeline(spec({ ...nodes, data, a: { type: 'align', inputs: { particles: 'data', reference: 'mine' } } }));
    expect(plan.nodes.find((n) => n.name === 'mine')).toMatchObject({ activity: { name: 'myStep', queue: 'cpu' }, outputs: { result: 'map' } });
    // As a file would have it (parsed YAML is not typed).
    const misTyped = { x: { type: 'activity', activity: 'f', outputs: { r: 'volume' } } } as unknown as PipelineSpec['nodes'];
    expect(() => planPipeline(spec(misTyped))).toThrow("field 'outputs.r': unknown type \"volume\"");
    expect(() => planPipeline(spec({ x: { type: 'fsc', activity: 'f' } }))).toThrow("pipeline node 'x', field 'activity': belongs to nodes of type 'activity'");
  });
});

describe('the loader', () => {
  it('resolves params paths and matrix values against the file, and names a missing file', async () => {
    await writeFile(join(dir, 'a.star'), '');
    await writeFile(join(dir, 'b.star'), '');
    const loaded = await resolvePipeline({
      name: 'p', workdir: 'work',
      nodes: { l: { type: 'load', params: { star: 'a.star' }, matrix: { star: ['a.star', 'b.star'] } } },
    }, dir);
    expect(loaded.workdir).toBe(join(dir, 'work'));
    expect(loaded.nodes.l.params).toEqual({ star: join(dir, 'a.star') });
    expect(loaded.nodes.l.matrix).toEqual({ star: [join(dir, 'a.star'), join(dir, 'b.star')] });
    await expect(resolvePipeline({ name: 'p', workdir: 'w', nodes: { l: { type: 'load', params: { star: 'c.star' } } } }, dir))
      .rejects.toThrow(`pipeline node 'l', field 'params.star': ${join(dir, 'c.star')} does not exist`);
    await expect(resolvePipeline({ name: 'p', workdir: 'w', nodes: { d: { type: 'simulate', params: { size: 16, maxShift: 9 } } } }, dir))
      .rejects.toThrow(/pipeline node 'd', field 'params': .*data\.maxShift/);
  });
});
