/** Every workflow the workers register (the bundle entry point). */
export * from './smoke.ts';
export * from './campaign.ts';
export * from './pipeline.ts';
