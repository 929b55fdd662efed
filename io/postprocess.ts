/**
 * The files `subtomo fsc` and `subtomo postprocess` write: FSC curves as CSV and SVG, the Guinier plot as SVG,
 * and a STAR file in the layout of RELION's postprocess.star.
 *
 * postprocess.star follows Postprocessing::writeOutput (src/postprocessing.cpp) with the labels of
 * src/metadata_label.h (3dem/relion at 73f0a3c): data_general (rlnFinalResolution, rlnBfactorUsedForSharpening,
 * rlnUnfilteredMapHalf1/2, rlnPostprocessedMap; with a mask rlnMaskName, rlnRandomiseFrom,
 * rlnPostprocessedMapMasked; with a fitted B-factor rlnFittedSlopeGuinierPlot, rlnFittedInterceptGuinierPlot,
 * rlnCorrelationFitGuinierPlot), data_fsc (rlnSpectralIndex, rlnResolution, rlnAngstromResolution,
 * rlnFourierShellCorrelationCorrected, rlnFourierShellCorrelationUnmaskedMaps and, with a mask,
 * rlnFourierShellCorrelationMaskedMaps, rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps) and
 * data_guinier (rlnResolutionSquared, rlnLogAmplitudesOriginal, rlnLogAmplitudesWeighted,
 * rlnLogAmplitudesSharpened, rlnLogAmplitudesIntercept). As RELION, data_fsc starts at shell 0 (999 Å, FSC 1:
 * RELION's readers take row i as shell i), a shell without amplitude has ln amplitude −99, and without a mask
 * the corrected and unmasked columns are the same curve. Differences: data_general is written as a one-row
 * loop (RELION writes a key–value list; its reader takes both), and rlnFinalResolution is interpolated between
 * shells (core/postprocess.ts).
 */
import { FSC_GOLD_STANDARD, FSC_HALF, type FscCurve } from '../core/fsc.ts';
import type { GuinierPlot, MaskCorrectedFsc, PostprocessResult } from '../core/postprocess.ts';
import { type Series, lineChartSvg } from './plot.ts';
import type { StarTable, StarValue } from './star.ts';

/** A curve and how the CSV header (`column`) and the plot legend (`label`) name it. */
export interface NamedFsc {
  column: string;
  label: string;
  curve: FscCurve;
}

/** The unmasked FSC and, with a mask correction, the masked, phase-randomised masked and corrected ones. */
export function fscColumns(unmasked: FscCurve, correction?: MaskCorrectedFsc): NamedFsc[] {
  const columns: NamedFsc[] = [{ column: 'fsc_unmasked', label: 'unmasked', curve: unmasked }];
  if (correction) {
    columns.push(
      { column: 'fsc_masked', label: 'masked', curve: correction.masked },
      { column: 'fsc_phase_randomised_masked', label: 'phase-randomised, masked', curve: correction.randomisedMasked },
      { column: 'fsc_corrected', label: 'mask-corrected', curve: correction.corrected },
    );
  }
  return columns;
}

/** CSV: shell, spatial frequency (1/Å), resolution (Å), then one column per curve. */
export function fscCsv(curves: readonly NamedFsc[]): string {
  const [first] = curves;
  const lines = [['shell', 'spatial_frequency_per_angstrom', 'resolution_angstrom', ...curves.map((c) => c.column)].join(',')];
  first.curve.shell.forEach((shell, i) => {
    const f = first.curve.spatialFrequency[i];
    lines.push([shell, f, 1 / f, ...curves.map((c) => c.curve.fsc[i])].join(','));
  });
  return `${lines.join('\n')}\n`;
}

export function fscSvg(curves: readonly NamedFsc[], title: string): string {
  return lineChartSvg({
    title,
    xLabel: 'spatial frequency (1/Å)',
    yLabel: 'FSC',
    series: curves.map((c) => ({ label: c.label, x: c.curve.spatialFrequency, y: c.curve.fsc })),
    hLines: [{ y: FSC_GOLD_STANDARD, label: '0.143' }, { y: FSC_HALF, label: '0.5' }],
    yRange: [-0.2, 1],
  });
}

function guinierSeries(label: string, plot: GuinierPlot): Series {
  return { label, x: plot.resolutionSquared, y: plot.lnAmplitude };
}

/** ln amplitude against 1/d² of the combined map before and after FSC weighting and sharpening, and the fitted line. */
export function guinierSvg(result: PostprocessResult): string {
  const { guinier, fit } = result;
  const series = [
    guinierSeries('combined map', guinier.original),
    guinierSeries('FSC-weighted', guinier.weighted),
    guinierSeries('sharpened', guinier.sharpened),
  ];
  if (fit) {
    const x = [1 / fit.from ** 2, 1 / fit.to ** 2];
    series.push({ label: `fit: B = ${fit.bFactor.toFixed(0)} Å²`, x, y: x.map((v) => fit.intercept + fit.slope * v) });
  }
  return lineChartSvg({ title: 'Guinier plot', xLabel: '1/d² (1/Å²)', yLabel: 'ln(mean |F|)', series });
}

/** Where the post-processing inputs and outputs are, as postprocess.star names them. */
export interface PostprocessFiles {
  half1: string;
  half2: string;
  map: string;
  mask?: string;
  maskedMap?: string;
}

// RELION's stand-in for the resolution of shell 0 and for the logarithm of a zero amplitude
const SHELL_ZERO_ANGSTROM = 999;
const LOG_OF_ZERO = -99;

export function postprocessStar(result: PostprocessResult, files: PostprocessFiles): StarTable[] {
  const general: Record<string, StarValue> = {
    rlnFinalResolution: result.resolution,
    rlnBfactorUsedForSharpening: result.bFactor,
    rlnUnfilteredMapHalf1: files.half1,
    rlnUnfilteredMapHalf2: files.half2,
    rlnPostprocessedMap: files.map,
  };
  const correction = result.maskCorrection;
  if (correction && files.mask && files.maskedMap) {
    general.rlnMaskName = files.mask;
    general.rlnRandomiseFrom = (result.map.n * result.map.voxelSize) / correction.randomiseFrom;
    general.rlnPostprocessedMapMasked = files.maskedMap;
  }
  if (result.fit) {
    general.rlnFittedSlopeGuinierPlot = result.fit.slope;
    general.rlnFittedInterceptGuinierPlot = result.fit.intercept;
    general.rlnCorrelationFitGuinierPlot = result.fit.correlation;
  }

  const fscColumnsOf: [string, FscCurve][] = [
    ['rlnFourierShellCorrelationCorrected', result.final],
    ['rlnFourierShellCorrelationUnmaskedMaps', result.unmasked],
  ];
  if (correction) {
    fscColumnsOf.push(
      ['rlnFourierShellCorrelationMaskedMaps', correction.masked],
      ['rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps', correction.randomisedMasked],
    );
  }
  const fscRows: StarValue[][] = [[0, 1 / SHELL_ZERO_ANGSTROM, SHELL_ZERO_ANGSTROM, ...fscColumnsOf.map(() => 1)]];
  result.final.shell.forEach((shell, i) => {
    const f = result.final.spatialFrequency[i];
    fscRows.push([shell, f, 1 / f, ...fscColumnsOf.map(([, curve]) => curve.fsc[i])]);
  });

  const { original, weighted, sharpened } = result.guinier;
  const logOf = (v: number): number => (Number.isFinite(v) ? v : LOG_OF_ZERO);
  const guinierColumns = ['rlnResolutionSquared', 'rlnLogAmplitudesOriginal', 'rlnLogAmplitudesWeighted', 'rlnLogAmplitudesSharpened'];
  if (result.fit) guinierColumns.push('rlnLogAmplitudesIntercept');
  const guinierRows = original.resolutionSquared.map((x, i) => {
    const row: StarValue[] = [x, logOf(original.lnAmplitude[i]), logOf(weighted.lnAmplitude[i]), logOf(sharpened.lnAmplitude[i])];
    if (result.fit) row.push(result.fit.intercept);
    return row;
  });

  return [
    { name: 'general', columns: Object.keys(general), rows: [Object.values(general)] },
    { name: 'fsc', columns: ['rlnSpectralIndex', 'rlnResolution', 'rlnAngstromResolution', ...fscColumnsOf.map(([label]) => label)], rows: fscRows },
    { name: 'guinier', columns: guinierColumns, rows: guinierRows },
  ];
}
