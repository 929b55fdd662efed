/**
 * `subtomo classify`: multi-reference alignment and classification (the paper's MCO-A; drivers/classify.ts)
 * of a particle list into K classes, iterated: every particle aligned to every class of its half-set,
 * assigned to its best class (or by annealing, MCO-AC), classes below a minimum size dropped, each class
 * averaged per half-set and low-passed at its own resolution for the next iteration. Starts from given maps
 * (--refs) or from K random subsets of an aligned list (its poses). Writes every iteration's class maps, the
 * list with rlnClassNumber and each particle's pose in its class, and a JSON summary; with ground-truth labels
 * in the list (drivers/classify.ts TRUE_CLASS_COLUMN, as simulated mixtures carry) it prints the adjusted
 * Rand index and the confusion matrix.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  adjustedRandIndex,
  annealedClasses,
  changedFraction,
  classSizes,
  confusionMatrix,
  dropSmallClasses,
  randomSubsets,
} from '../../core/classify.ts';
import { mergeText } from '../../core/classMerge.ts';
import { alternatingHalf } from '../../core/halfmaps.ts';
import { Rng } from '../../core/random.ts';
import { referenceFrom } from '../../core/reference.ts';
import type { Pose } from '../../core/rotate.ts';
import type { Volume } from '../../core/volume.ts';
import { type AlignTarget, type VolumeReader, alignJob, runAlignment } from '../../drivers/align.ts';
import {
  type ClassParticle,
  type ClassReferences,
  assignedPairs,
  averageClasses,
  classAlignmentOf,
  classDirName,
  classPairs,
  scoringSettings,
  trueClasses,
  withRefinedPoses,
} from '../../drivers/classify.ts';
import { jobCtfOf, readPreparedList, withUpdatedParticles } from '../../drivers/particleList.ts';
import { writeMrc } from '../../io/mrc.ts';
import { writeParticleList } from '../../io/particles.ts';
import { type Sampling, assertSameSampling, readMapFitted, readVolume } from '../../io/volumes.ts';
import { CLASSIFY_DEFAULTS } from '../../model/defaults.ts';
import type { AlignJob } from '../../model/jobs.ts';
import { type Args, UsageError } from '../../os/args.ts';
import { interruptSignal } from '../../os/interrupt.ts';
import { ProgressBar } from '../../os/progress.ts';
import type { Command } from '../command.ts';
import { FORMAT_USAGE, LIST_FLAGS, LIST_USAGE, listSelection, outputFormat } from '../listOptions.ts';
import { MPI_FLAGS, MPI_USAGE, mpiOptions } from '../mpiOptions.ts';
import { ALIGN_SETTINGS_USAGE, ALIGN_SETTING_FLAGS, readSettings } from './align.ts';

const C = CLASSIFY_DEFAULTS;
const usage =
  `subtomo classify ${LIST_USAGE} --classes K --out DIR ${FORMAT_USAGE} ${MPI_USAGE}\n` +
  `       [--refs A.mrc,B.mrc,… (one per class; default K random subsets of the list, averaged with its poses)] ` +
  `[--iterations ${C.iterations}] [--min-class-size N (default ${C.minSizeFraction} × particles / K, at least 2)]\n` +
  `       [--initial-lowpass ${C.initialLowpass} (Å, the starting references)] [--lowpass Å (the band the class references are compared in; ` +
  `default --initial-lowpass)]\n       [--merge ${C.merge} (similarity at which two classes merge; 1 = one structure) | --no-merge] [--temperature T (${C.temperature}: MCO-A; > 0: MCO-AC annealing)] ` +
  `[--cooling ${C.cooling}] [--stop-changed ${C.stopChanged} (fraction of particles changing class)]\n` +
  `       [--no-refine (the assigned class's pose too keeps FRM's rotation and FTM's shift: what refinement adds, measured)]\n` +
  `       ${ALIGN_SETTINGS_USAGE}`;

interface Options {
  classes: number;
  iterations: number;
  minSize: number;
  initialLowpass: number;
  lowpass: number;
  /** Similarity at which two classes merge (core/classify.ts classSimilarity); absent: --no-merge. */
  merge?: number;
  /** false: --no-refine. */
  refine: boolean;
  temperature: number;
  cooling: number;
  stopChanged: number;
}

function readOptions(args: Args, particleCount: number): Options {
  const classes = args.int('classes');
  if (classes < 1) throw new UsageError(`--classes must be at least 1, got ${classes}`);
  if (classes > particleCount) throw new UsageError(`--classes ${classes} exceeds the ${particleCount} particles of the list`);
  const iterations = args.int('iterations', C.iterations);
  if (iterations < 1) throw new UsageError(`--iterations must be at least 1, got ${iterations}`);
  const minSize = args.int('min-class-size', Math.max(2, Math.floor((C.minSizeFraction * particleCount) / classes)));
  if (minSize < 2) throw new UsageError(`--min-class-size must be at least 2 (one particle per half-set), got ${minSize}`);
  const initialLowpass = args.number('initial-lowpass', C.initialLowpass);
  if (!(initialLowpass > 0)) throw new UsageError(`--initial-lowpass must be positive (Å), got ${initialLowpass}`);
  const lowpass = args.number('lowpass', initialLowpass);
  if (!(lowpass > 0)) throw new UsageError(`--lowpass must be positive (Å), got ${lowpass}`);
  const merge = args.has('no-merge') ? undefined : args.number('merge', C.merge);
  if (merge !== undefined && !(merge > 0)) throw new UsageError(`--merge must be positive (a similarity; 1 = one structure), got ${merge}`);
  const temperature = args.number('temperature', C.temperature);
  if (!(temperature >= 0)) throw new UsageError(`--temperature must be ≥ 0, got ${temperature}`);
  const cooling = args.number('cooling', C.cooling);
  if (!(cooling > 0 && cooling <= 1)) throw new UsageError(`--cooling must be in (0, 1], got ${cooling}`);
  const stopChanged = args.number('stop-changed', C.stopChanged);
  if (!(stopChanged >= 0 && stopChanged < 1)) throw new UsageError(`--stop-changed must be in [0, 1), got ${stopChanged}`);
  return { classes, iterations, minSize, initialLowpass, lowpass, ...(merge !== undefined && { merge }), refine: !args.has('no-refine'), temperature, cooling, stopChanged };
}

async function run(args: Args): Promise<void> {
  const mpi = mpiOptions(args);
  const out = resolve(args.string('out'));
  const prepared = await readPreparedList(args.string('particles'), listSelection(args));
  const format = outputFormat(args, prepared.list.origin.format);
  const options = readOptions(args, prepared.particles.length);
  const { voxelSize } = prepared;
  const first = prepared.particles[0];
  const sample = await readVolume(first.image, { voxelSize });
  const sampling: Sampling = { n: sample.n, voxelSize, label: `particle ${first.name} (${first.image})` };
  const settings = readSettings(args, sampling.n);
  const particles: ClassParticle[] = prepared.particles.map((p, i) => ({
    name: p.name, path: p.image, tilt: p.tilt, half: p.half ?? alternatingHalf(i), ...jobCtfOf(prepared, p),
  }));
  const halves = particles.map((p) => p.half);
  const truth = trueClasses(prepared.list, prepared.particles);
  const exec = { mpi, boxSize: sampling.n };
  const averaging = { mask: settings.mask, voxelSize, ...(settings.symmetry && { symmetry: settings.symmetry }) };
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const interrupt = interruptSignal();
  try {
    // Iteration 0: the starting references.
    const start = join(out, 'iteration_00');
    let references: (ClassReferences | null)[];
    let assignment: number[];
    if (args.has('refs')) {
      const paths = args.string('refs').split(',').map((p) => resolve(p.trim()));
      if (paths.length !== options.classes) throw new UsageError(`--refs names ${paths.length} maps for --classes ${options.classes}`);
      references = [];
      for (const [k, path] of paths.entries()) {
        const { volume, changes } = await readMapFitted(path, sampling);
        for (const c of changes) say(`reference ${path}: ${c}, to match the particles`);
        const file = join(start, classDirName(k), 'reference.mrc');
        await mkdir(join(start, classDirName(k)), { recursive: true });
        await writeMrc(file, referenceFrom(volume, options.initialLowpass, settings.mask), { labels: [`class ${k + 1} start, low-pass ${options.initialLowpass} A`] });
        references.push({ odd: file, even: file });
      }
      assignment = particles.map(() => -1);
    } else {
      const unposed = prepared.particles.find((p) => !p.pose);
      if (unposed) {
        throw new UsageError(`${prepared.list.origin.path}: particle ${unposed.name} has no pose; classify starts from an aligned list ` +
          '(subtomo align or a campaign) or from --refs');
      }
      assignment = randomSubsets(halves, options.classes, settings.seed);
      const poses = prepared.particles.map((p) => new Array<Pose | null>(options.classes).fill(p.pose!));
      const bar = new ProgressBar('initial class averages', particles.length);
      const averages = await averageClasses(particles, assignment, poses, { ...averaging, lowpass: options.initialLowpass, commonStart: true }, start, {
        ...exec, signal: interrupt.signal, onProgress: (done, detail) => bar.update(done, detail),
      });
      references = new Array<ClassReferences | null>(options.classes).fill(null);
      for (const a of averages) references[a.index] = a.references ?? null;
    }

    const history: object[] = [];
    let poses: (Pose | null)[][] = [];
    let dropped = new Set<number>();
    let temperature = options.temperature;
    for (let iteration = 1; iteration <= options.iterations; iteration++) {
      const dir = join(out, `iteration_${String(iteration).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      const live = references.filter((r) => r).length;
      const frmBar = new ProgressBar(`iteration ${iteration}: FRM`, particles.length * live);
      const reader: VolumeReader = {
        reference: (path) => readVolume(path, { voxelSize }),
        particle: async (t: AlignTarget): Promise<Volume> => {
          const v = await readVolume(t.path, { voxelSize });
          assertSameSampling({ n: v.n, voxelSize: v.voxelSize, label: `particle ${t.name} (${t.path})` }, sampling);
          return v;
        },
      };
      const iterationSettings = { ...settings, seed: settings.seed + iteration };
      const pairs = await classPairs(particles, references, iterationSettings, reader, (done, name) => frmBar.update(done, name));
      const scoreBar = new ProgressBar(`iteration ${iteration}: score (FRM, FTM)`, pairs.pairs.reduce((sum, p) => sum + p.candidates.length, 0));
      const run = (job: AlignJob, bar: ProgressBar) => runAlignment(job, { ...exec, signal: interrupt.signal, onProgress: (done, detail) => bar.update(done, detail) });
      const scored = await run(alignJob(pairs.pairs, scoringSettings(iterationSettings), { results: join(dir, 'scores.json') }), scoreBar);
      const aligned = classAlignmentOf(scored.results, particles.length, pairs.live, references.length);
      const drawn = annealedClasses(aligned.scores, temperature, Rng.derive(settings.seed, iteration), dropped);
      const pruned = dropSmallClasses(aligned.scores, drawn, options.minSize, dropped, halves);
      for (const k of pruned.dropped) dropped.add(k);
      const changed = changedFraction(assignment, pruned.assignment);
      assignment = pruned.assignment;
      poses = aligned.poses;
      if (options.refine) {
        const mine = assignedPairs(pairs.live, assignment).map((j) => pairs.pairs[j]);
        const refineBar = new ProgressBar(`iteration ${iteration}: refine (${settings.method})`, mine.reduce((sum, p) => sum + p.candidates.length, 0));
        const refined = await run(alignJob(mine, iterationSettings, { results: join(dir, 'pairs.json') }), refineBar);
        poses = withRefinedPoses(aligned.poses, pairs.live, assignment, refined.results);
      }
      const avgBar = new ProgressBar(`iteration ${iteration}: class averages`, particles.length);
      const merge = options.merge !== undefined && iteration < options.iterations
        ? { merge: { threshold: options.merge, resolution: options.lowpass, maxShift: settings.maxShift, seed: iterationSettings.seed } }
        : {};
      const averages = await averageClasses(particles, assignment, poses, { ...averaging, lowpass: options.lowpass, ...merge }, dir, {
        ...exec, signal: interrupt.signal, onProgress: (done, detail) => avgBar.update(done, detail),
      });
      references = references.map(() => null);
      for (const a of averages) references[a.index] = a.references ?? null;
      dropped = new Set(references.flatMap((r, k) => (r ? [] : [k])));
      const merged = averages.filter((a) => a.mergedInto !== undefined);
      const sizes = classSizes(assignment, options.classes);
      const assigned = assignment.flatMap((k, i) => (k >= 0 ? [aligned.scores[i][k]] : []));
      const meanCcc = assigned.reduce((a, b) => a + b, 0) / assigned.length;
      const ari = truth ? adjustedRandIndex(truth, assignment) : undefined;
      history.push({ iteration, temperature, changed, meanCcc, dropped: pruned.dropped.map((k) => k + 1), classes: averages.map((a) => ({
        class: a.index + 1, size: a.size, resolution: a.resolution, maps: a.maps,
        ...(a.mergedInto !== undefined && { mergedInto: a.mergedInto + 1, similarity: a.similarity }),
      })), ...(ari !== undefined && { ari }) });
      say(`iteration ${iteration}: ${averages.length} classes, sizes ${averages.map((a) => `${a.index + 1}:${sizes[a.index]}`).join(' ')}, ` +
        `resolution ${averages.map((a) => `${a.resolution.toFixed(1)}`).join(' ')} Å, ${(100 * changed).toFixed(1)} % changed class, ` +
        `mean CCC ${meanCcc.toFixed(4)}${pruned.dropped.length > 0 ? `, dropped ${pruned.dropped.map((k) => k + 1).join(' ')}` : ''}` +
        merged.map((a) => `, ${mergeText({ class: a.index, into: a.mergedInto!, similarity: a.similarity! })}`).join('') +
        `${ari !== undefined ? `, adjusted Rand index ${ari.toFixed(3)}` : ''}`);
      temperature *= options.cooling;
      if (iteration > 1 && changed <= options.stopChanged && merged.length === 0) {
        say(`stopping: ${(100 * changed).toFixed(1)} % of the particles changed class (≤ ${(100 * options.stopChanged).toFixed(1)} %)`);
        break;
      }
    }

    const updated = prepared.particles.map((p, i) => ({ ...p, pose: poses[i][assignment[i]]!, classNumber: assignment[i] + 1 }));
    const written = await writeParticleList(withUpdatedParticles(prepared, updated), join(out, `particles${format === 'dynamo' ? '.tbl' : '.star'}`), format);
    const summary = { classes: options.classes, particles: particles.length, history, ...(truth && { confusion: confusionMatrix(truth, assignment) }) };
    await writeFile(join(out, 'classification.json'), `${JSON.stringify(summary, null, 1)}\n`);
    if (truth) {
      const table = confusionMatrix(truth, assignment);
      say(`confusion (rows: true class, columns: classes ${table.classes.map((k) => k + 1).join(' ')}):`);
      table.truth.forEach((t, r) => say(`  ${t.padEnd(12)} ${table.counts[r].map((c) => String(c).padStart(4)).join(' ')}`));
    }
    say(`wrote ${written.join(', ')} (${format}), ${join(out, 'classification.json')} and the class maps in ${out}/iteration_*/class_*/`);
  } finally {
    interrupt.dispose();
  }
}

const classify: Command = {
  summary: 'classify particles into K classes by multi-reference alignment (MCO-A, optionally annealed), with per-class averages',
  usage,
  flags: {
    values: ['out', 'classes', 'refs', 'iterations', 'min-class-size', 'initial-lowpass', 'lowpass', 'merge', 'temperature', 'cooling', 'stop-changed',
      ...ALIGN_SETTING_FLAGS, ...LIST_FLAGS.values, ...MPI_FLAGS.values],
    switches: [...(LIST_FLAGS.switches ?? []), 'no-refine', 'no-merge'],
    repeatable: [...(LIST_FLAGS.repeatable ?? []), ...(MPI_FLAGS.repeatable ?? [])],
  },
  run,
};

export default classify;
