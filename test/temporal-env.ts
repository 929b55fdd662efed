/** Address of the dev server started by test/globalSetup.ts, for test files that need Temporal. */
import { inject } from 'vitest';

export function temporalAddress(): string {
  const address = inject('temporalAddress');
  if (!address) {
    throw new Error(inject('temporalUnavailable') || 'no Temporal server: test/globalSetup.ts is not configured in vitest.config.ts');
  }
  return address;
}
