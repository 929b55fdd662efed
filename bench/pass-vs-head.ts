/**
 * One alignment pass (bench/pass.ts) of the working tree against the last commit, measured in one run with
 * interleaved repetitions (HEAD, tree, HEAD, tree, … alternating which goes first), so that a change of
 * machine load hits both alike. Prints every repetition and the medians side by side: wall and CPU seconds,
 * the stage breakdown, SAG's convergence counts and the accuracy against the truth.
 *
 * The trees are snapshots in the OS temp directory, with this checkout's node_modules linked in:
 *   head  `git archive HEAD` (equivalent to a git worktree of HEAD, without touching .git)
 *   tree  the same, with every file that differs from HEAD in the working tree copied over (tracked
 *         changes and untracked files under core/, model/, mpi/, bench/), except the paths given to
 *         --keep-head, which stay as committed (e.g. --keep-head core/fft.ts isolates one change from
 *         another engineer's work in progress)
 * Both run THIS checkout's bench/pass.ts (it reads what older trees lack as optional), so they time the
 * same driver on the same cached data set.
 *
 * Usage: npx tsx bench/pass-vs-head.ts [--rounds 3] [--keep-head PATH[,PATH…]] [-- pass.ts flags…]
 *   e.g. npx tsx bench/pass-vs-head.ts --rounds 3 -- --box 32 --resolution 36 --snr 0.003
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { PassReport } from './pass.ts';
import { REPO } from './portablePaths.ts';

interface Options {
  rounds: number;
  keepHead: string[];
  passArgs: string[];
}

function parse(argv: string[]): Options {
  const split = argv.indexOf('--');
  const own = split >= 0 ? argv.slice(0, split) : argv;
  const passArgs = split >= 0 ? argv.slice(split + 1) : [];
  const options: Options = { rounds: 3, keepHead: [], passArgs };
  for (let i = 0; i < own.length; i += 2) {
    const [flag, value] = [own[i], own[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--rounds') options.rounds = Number(value);
    else if (flag === '--keep-head') options.keepHead = value.split(',').filter((p) => p !== '');
    else throw new Error(`unknown flag ${flag} (expected --rounds, --keep-head, then -- and bench/pass.ts flags)`);
  }
  if (!Number.isInteger(options.rounds) || options.rounds < 1) throw new Error(`--rounds must be a positive integer, got ${options.rounds}`);
  return options;
}

const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' });

/** A snapshot of HEAD at `dir` with node_modules linked; `overlay` files copied from the working tree. */
function snapshot(dir: string, overlay: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git archive HEAD | tar -x -C '${dir}'`], { cwd: REPO });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  for (const file of overlay) {
    const from = join(REPO, file);
    const to = join(dir, file);
    if (!existsSync(from)) {
      rmSync(to, { force: true });
      continue;
    }
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}

/** Files of the working tree that differ from HEAD (tracked changes, untracked sources). */
function changedFiles(): string[] {
  const tracked = git('diff', '--name-only', 'HEAD').split('\n');
  const untracked = git('ls-files', '--others', '--exclude-standard', '--', 'core', 'model', 'mpi', 'bench').split('\n');
  return [...new Set([...tracked, ...untracked])].filter((f) => f !== '');
}

function runPass(tree: string, args: string[], json: string): PassReport {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/pass.ts', ...args, '--json', json], { cwd: tree, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`bench/pass.ts in ${tree} failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(readFileSync(json, 'utf8')) as PassReport;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function main(): void {
  const options = parse(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), 'subtomo-pass-vs-head-'));
  try {
    const head = join(root, 'head');
    const tree = join(root, 'tree');
    const changed = changedFiles();
    snapshot(head, ['bench/pass.ts']);
    snapshot(tree, changed.filter((f) => !options.keepHead.includes(f)));
    const kept = options.keepHead.filter((f) => changed.includes(f));
    console.log(
      `HEAD ${git('rev-parse', '--short', 'HEAD').trim()} against the working tree (${changed.length} changed files` +
        `${kept.length ? `; kept as committed: ${kept.join(', ')}` : ''}); bench/pass.ts ${options.passArgs.join(' ') || '(defaults)'}`,
    );
    // The first run simulates and caches the data set; not timed against anything.
    runPass(tree, [...options.passArgs], join(root, 'warm.json'));
    const results: Record<'head' | 'tree', PassReport[]> = { head: [], tree: [] };
    for (let r = 0; r < options.rounds; r++) {
      const order: ('head' | 'tree')[] = r % 2 === 0 ? ['head', 'tree'] : ['tree', 'head'];
      for (const which of order) {
        const report = runPass(which === 'head' ? head : tree, options.passArgs, join(root, `${which}-${r}.json`));
        results[which].push(report);
        console.log(
          `round ${r + 1} ${which.padEnd(4)}: ${report.wallSeconds.toFixed(2)} s wall, ${report.cpuSeconds.toFixed(2)} s CPU, ` +
            `median rotation error ${report.medianRotationDeg.toFixed(2)}°`,
        );
      }
    }
    const rows: [string, (p: PassReport) => number, number][] = [
      ['wall s', (p) => p.wallSeconds, 2],
      ['CPU s', (p) => p.cpuSeconds, 2],
      ['FRM s', (p) => p.stages.frm, 2],
      ['bin + setup s', (p) => p.stages.setup, 2],
      ['FTM s', (p) => p.stages.ftm, 2],
      ['SAG epochs s', (p) => p.stages.sagEpochs, 2],
      ['literal corrections s', (p) => p.stages.literal, 2],
      ['literal gradients s', (p) => p.stages.gradients, 2],
      ['wedge filters s', (p) => p.stages.filters, 2],
      ['final scoring s', (p) => p.stages.scoring, 2],
      ['epochs per refinement', (p) => p.stages.epochs / Math.max(1, p.stages.refinements - p.stages.failed), 1],
      ['anchorings per refinement', (p) => p.stages.anchors / Math.max(1, p.stages.refinements - p.stages.failed), 1],
      ['wedge-filter rebuilds', (p) => p.stages.prepares, 0],
      ['refinements at the epoch cap', (p) => p.stages.capped, 0],
      ['failed candidates', (p) => p.stages.failed, 0],
      ['median rotation error °', (p) => p.medianRotationDeg, 2],
      ['mean rotation error °', (p) => p.meanRotationDeg, 2],
      ['particles ≤ 5°', (p) => p.within5Deg, 0],
      ['median shift error (voxels)', (p) => p.medianShiftVoxels, 2],
      ['64³ CCC of winners − truth', (p) => p.fullSizeCccGap, 5],
    ];
    console.log(`\nmedians over ${options.rounds} round(s)      HEAD        tree    HEAD/tree`);
    for (const [label, value, digits] of rows) {
      const h = median(results.head.map(value));
      const t = median(results.tree.map(value));
      const ratio = t !== 0 && label.endsWith(' s') ? `${(h / t).toFixed(2)}×` : '';
      console.log(`${label.padEnd(30)} ${h.toFixed(digits).padStart(10)} ${t.toFixed(digits).padStart(10)}   ${ratio}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main();
