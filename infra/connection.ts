/**
 * How clients (the CLI) and workers reach a Temporal server: the address, and for a production cluster the
 * transport security the Temporal client offers — TLS with a CA to trust, a client certificate for mutual TLS,
 * or an API key (Temporal Cloud). The dev server that `infra/server.ts` starts speaks plain gRPC only (its
 * `start-dev` has no TLS options), which is why it refuses non-loopback addresses unless told otherwise
 * (docs/security.md).
 *
 * Flags, each with an environment fallback as the Temporal CLI names them:
 *   --address HOST:PORT (TEMPORAL_ADDRESS), --namespace NS (TEMPORAL_NAMESPACE),
 *   --tls-ca FILE (TEMPORAL_TLS_CA), --tls-cert FILE + --tls-key FILE (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY),
 *   --tls-server-name NAME (TEMPORAL_TLS_SERVER_NAME), --api-key KEY (TEMPORAL_API_KEY).
 */
import { readFileSync } from 'node:fs';
import type { Args } from '../os/args.ts';
import { UsageError } from '../os/args.ts';
import { temporalAddress } from './temporal.ts';

export const CONNECTION_FLAGS = ['address', 'namespace', 'tls-ca', 'tls-cert', 'tls-key', 'tls-server-name', 'api-key'] as const;

export const CONNECTION_USAGE = '[--address HOST:PORT] [--namespace NS] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME] [--api-key KEY]';

/** What both Connection.connect (client) and NativeConnection.connect (worker) take. */
export interface ConnectionSettings {
  address: string;
  namespace: string;
  tls?: {
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverNameOverride?: string;
  };
  apiKey?: string;
}

function pem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`--${flag} ${path}: ${(err as Error).message}`);
  }
}

/** The connection the flags (or their environment variables) describe. */
export function connectionSettings(args: Args, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const value = (flag: (typeof CONNECTION_FLAGS)[number], variable: string) => args.optionalString(flag) ?? (env[variable] || undefined);
  const ca = value('tls-ca', 'TEMPORAL_TLS_CA');
  const cert = value('tls-cert', 'TEMPORAL_TLS_CERT');
  const key = value('tls-key', 'TEMPORAL_TLS_KEY');
  const serverName = value('tls-server-name', 'TEMPORAL_TLS_SERVER_NAME');
  const apiKey = value('api-key', 'TEMPORAL_API_KEY');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together (a client certificate and its key)');
  const tlsWanted = ca !== undefined || cert !== undefined || serverName !== undefined;
  return {
    address: temporalAddress(args.optionalString('address')),
    namespace: value('namespace', 'TEMPORAL_NAMESPACE') ?? 'default',
    ...(tlsWanted && {
      tls: {
        ...(ca !== undefined && { serverRootCACertificate: pem('tls-ca', ca) }),
        ...(cert !== undefined && key !== undefined && { clientCertPair: { crt: pem('tls-cert', cert), key: pem('tls-key', key) } }),
        ...(serverName !== undefined && { serverNameOverride: serverName }),
      },
    }),
    ...(apiKey !== undefined && { apiKey }),
  };
}
