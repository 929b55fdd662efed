/** install.sh's MPI check: two real ranks run the binding self-test through the launcher. */
import { fileURLToPath } from 'node:url';
import { runMpiJob } from './launcher.ts';

const entry = fileURLToPath(new URL('./rankSelfTest.ts', import.meta.url));
const { result, durationMs } = await runMpiJob({ np: 2, entry });
console.log(`[install] MPI self-test with 2 ranks passed in ${(durationMs / 1000).toFixed(1)} s: ${JSON.stringify(result)}`);
