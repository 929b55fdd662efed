/**
 * Every default has one home (model/defaults.ts): the CLI flags, the campaign config and the algorithms take
 * theirs from it, and the values are the documented ones (README, docs/campaigns.md, design.md).
 */
import { describe, expect, it } from 'vitest';
import { readSettings } from '../cli/commands/align.ts';
import { readPlan } from '../cli/commands/simulate.ts';
import { frmCandidates } from '../core/frm.ts';
import { Rng } from '../core/random.ts';
import { radians } from '../core/rotate.ts';
import { defaultBatchSize } from '../core/sag.ts';
import { validateConfig } from '../model/campaign.ts';
import {
  ALIGNMENT_DEFAULTS,
  CTF_DEFAULTS,
  FRM_DEFAULTS,
  SAG_DEFAULTS,
  SIMULATION_DEFAULTS,
  WEIGHT_FLOOR_FRACTION,
  defaultMaskRadius,
} from '../model/defaults.ts';
import { Args } from '../os/args.ts';
import { randomBlobs, renderBlobs } from './helpers/blobs.ts';

describe('defaults', () => {
  it('have the documented values', () => {
    expect(FRM_DEFAULTS).toEqual({ bandwidth: 32, topN: 10 });
    expect(SAG_DEFAULTS).toEqual({ algorithm: 2, maxEpochs: 200, tolerance: 3e-5, gradientTolerance: 1e-5, lambda: 0 });
    expect(defaultBatchSize(64)).toBe(8);
    expect(WEIGHT_FLOOR_FRACTION).toBe(0.1);
    expect(CTF_DEFAULTS).toEqual({ defocusAngstrom: 60000, csMillimetre: 2, voltageKv: 300, amplitudeContrast: 0.07 });
    expect(ALIGNMENT_DEFAULTS).toEqual({ method: 'sag', candidates: 10, bandwidth: 32, maxShift: 6, maskEdge: 3, seed: 1 });
    expect(defaultMaskRadius(64)).toBe(28);
    expect(defaultMaskRadius(32, 2)).toBe(13);
    expect(SIMULATION_DEFAULTS).toEqual({
      particles: 20, size: 64, voxel: 6, tiltDeg: 60, tiltStepDeg: 1, resolution: 20, maxShift: 4, seed: 1, defocusMicron: 6, weighting: 'atomic-number',
    });
  });

  it('`subtomo align` takes them when no flag is given', () => {
    expect(readSettings(new Args([]), 64)).toEqual({
      method: ALIGNMENT_DEFAULTS.method,
      candidates: ALIGNMENT_DEFAULTS.candidates,
      bandwidth: ALIGNMENT_DEFAULTS.bandwidth,
      maxShift: ALIGNMENT_DEFAULTS.maxShift,
      mask: { radius: defaultMaskRadius(64), edge: ALIGNMENT_DEFAULTS.maskEdge },
      alignBox: undefined,
      sag: undefined,
      seed: ALIGNMENT_DEFAULTS.seed,
    });
  });

  it('`subtomo simulate` takes them when no flag is given', () => {
    const plan = readPlan(new Args(['--snr', '0.01', '--out', 'x']));
    const D = SIMULATION_DEFAULTS;
    expect(plan.count).toBe(D.particles);
    expect(plan.weighting).toBe(D.weighting);
    expect(plan.config).toMatchObject({
      n: D.size, voxelSize: D.voxel, resolution: D.resolution, maxShift: D.maxShift, seed: D.seed,
      tilt: { min: radians(-D.tiltDeg), max: radians(D.tiltDeg) }, tiltStep: radians(D.tiltStepDeg),
      imaging: { ctf: { ...CTF_DEFAULTS, defocusAngstrom: D.defocusMicron * 1e4 }, mtf: true },
    });
  });

  it('a campaign config takes them when a field is absent', () => {
    const config = validateConfig({ workdir: '/w', data: { kind: 'simulate' } });
    expect(config.alignment).toEqual({
      method: ALIGNMENT_DEFAULTS.method, candidates: ALIGNMENT_DEFAULTS.candidates, bandwidth: ALIGNMENT_DEFAULTS.bandwidth,
      maxShift: ALIGNMENT_DEFAULTS.maxShift, mpiRanks: 2,
    });
    expect(config.mask).toEqual({ radius: defaultMaskRadius(SIMULATION_DEFAULTS.size), edge: ALIGNMENT_DEFAULTS.maskEdge });
    const D = SIMULATION_DEFAULTS;
    expect(config.data).toMatchObject({
      kind: 'simulate', particles: D.particles, size: D.size, voxel: D.voxel, tiltMin: -D.tiltDeg, tiltMax: D.tiltDeg,
      tiltStep: D.tiltStepDeg, resolution: D.resolution, maxShift: D.maxShift, seed: D.seed, defocus: D.defocusMicron,
    });
    // A STAR's box is known only once it is read: the radius then follows the box (model/campaign.ts campaignMask).
    expect(validateConfig({ workdir: '/w', data: { star: 'p.star' } }).mask).toEqual({ edge: ALIGNMENT_DEFAULTS.maskEdge });
  });

  it('FRM returns its default number of candidates', () => {
    const n = 16;
    const v = renderBlobs(randomBlobs(new Rng(3), 6, 5), n);
    expect(frmCandidates(v, v, { bandwidth: 8 })).toHaveLength(FRM_DEFAULTS.topN);
  });
});
