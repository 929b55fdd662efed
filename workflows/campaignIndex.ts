/**
 * What a campaign is indexed and summarised by (workflows/searchAttributes.ts): its name, method, data source,
 * last iteration, best resolution and state, kept current by the campaign workflow as it goes.
 */
import type { CampaignConfig } from '../model/campaign.ts';
import type { DataSource, RunState, SubtomoIndex } from '../model/searchAttributes.ts';
import type { CampaignStatus, StopReason } from './campaign.ts';
import { updateIndex } from './searchAttributes.ts';

export function campaignDataSource(config: Pick<CampaignConfig, 'data'>): DataSource {
  if (config.data.kind === 'simulate') return 'simulated';
  return config.data.extract ? 'tomograms' : 'list';
}

export const STATE_OF_STOP: Record<StopReason, RunState> = { 'max-iterations': 'max-iterations', converged: 'converged', 'stop-signal': 'stopped' };

/** The search attributes a campaign starts with (its starter and a parent pipeline set them at start). */
export function campaignStartIndex(config: CampaignConfig): SubtomoIndex {
  return { name: config.name, method: config.alignment.method, dataSource: campaignDataSource(config), state: 'running' };
}

/** Upserts the campaign's search attributes and memo for its `status` in `state`. */
export function indexCampaign(config: CampaignConfig, status: CampaignStatus, state: RunState): void {
  const last = status.history[status.history.length - 1];
  const index: SubtomoIndex = {
    ...campaignStartIndex(config),
    state,
    ...(last && { iteration: last.iteration }),
    ...(status.bestResolution !== null && { bestResolution: status.bestResolution }),
  };
  updateIndex(index, {
    kind: 'campaign',
    name: config.name,
    method: config.alignment.method,
    dataSource: index.dataSource,
    state,
    iteration: last?.iteration ?? null,
    maxIterations: config.maxIterations,
    bestResolution: status.bestResolution,
    lastResolution: last?.resolution0143 ?? null,
    report: status.artifacts.reportPath ?? null,
  });
}
