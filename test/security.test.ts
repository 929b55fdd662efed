/**
 * Network exposure (docs/security.md): the dev server stays on loopback unless told otherwise, and the CLI and
 * workers reach a Temporal endpoint over TLS with a client certificate (mutual TLS) — checked against a real
 * TLS front end (a Node TLS terminator, as nginx or Envoy would sit in front of a cluster) that forwards to
 * the shared dev server and accepts only clients with a certificate of its CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run.ts';
import { connectionSettings } from '../infra/connection.ts';
import { freePort, isLoopback, startServer } from '../infra/temporal.ts';
import { Args } from '../os/args.ts';
import { temporalAddress } from './temporal-env.ts';

const scratch = mkdtempSync(join(tmpdir(), 'subtomo-security-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('dev server address', () => {
  it('refuses anything but loopback unless --insecure-remote is given', async () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::'].some(isLoopback)).toBe(false);
    const port = await freePort();
    await expect(startServer({ port, ip: '0.0.0.0', ui: false, stateDir: join(scratch, 'state') }))
      .rejects.toThrow(/refusing to serve Temporal on 0\.0\.0\.0: the dev server has no TLS or authentication/);
    const remote = await startServer({ port, ip: '0.0.0.0', insecureRemote: true, ui: false, stateDir: join(scratch, 'state'), dbFile: join(scratch, 'db.sqlite') });
    try {
      expect(remote.address).toBe(`127.0.0.1:${port}`);
    } finally {
      await remote.stop({ graceMs: 0 });
    }
  });
});

describe('TLS and mutual TLS to a Temporal endpoint', () => {
  const pki = join(scratch, 'pki');
  const file = (name: string) => join(pki, name);
  let front: NetServer;
  let address: string;

  /** A CA, a server certificate for "temporal.test" and a client certificate, all by openssl. */
  function makeCertificates(): void {
    execFileSync('mkdir', ['-p', pki]);
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=subtomo test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    for (const [name, cn, ext] of [['server', 'temporal.test', 'subjectAltName=DNS:temporal.test'], ['client', 'subtomo worker', 'extendedKeyUsage=clientAuth']]) {
      writeFileSync(file(`${name}.ext`), `${ext}\n`);
      ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    }
    // A certificate from another CA: a stranger.
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=stranger', '-keyout', 'stranger.key', '-out', 'stranger.pem');
  }

  beforeAll(async () => {
    makeCertificates();
    const [host, port] = temporalAddress().split(':');
    front = createTlsServer(
      {
        key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')), ca: readFileSync(file('ca.pem')),
        requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'],
      },
      (client) => {
        const backend = connect(Number(port), host);
        client.pipe(backend).pipe(client);
        const close = () => {
          client.destroy();
          backend.destroy();
        };
        client.on('error', close);
        backend.on('error', close);
      },
    );
    front.on('tlsClientError', () => undefined); // refused handshakes are the point of some tests
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    address = `127.0.0.1:${(front.address() as { port: number }).port}`;
  });
  afterAll(() => front?.close());

  const tlsFlags = (cert = 'client') => [
    '--address', address, '--tls-ca', file('ca.pem'), '--tls-cert', file(`${cert}.pem`), '--tls-key', file(`${cert}.key`), '--tls-server-name', 'temporal.test',
  ];

  it('the CLI lists campaigns through mutual TLS; without a client certificate, or with a stranger\'s, it is refused', async () => {
    const quiet = { out: () => undefined, err: () => undefined };
    expect(await runCli(['campaign', 'list', ...tlsFlags()], quiet)).toBe(0);
    let err = '';
    // Both refusals wait out the client's connect timeout: run them side by side.
    const [noCert, stranger] = await Promise.all([
      runCli(['campaign', 'list', '--address', address, '--tls-ca', file('ca.pem'), '--tls-server-name', 'temporal.test'], {
        out: () => undefined, err: (t) => (err += t),
      }),
      runCli(['campaign', 'list', ...tlsFlags('stranger')], quiet),
    ]);
    expect(noCert).toBe(1);
    expect(err).toContain(`cannot reach Temporal at ${address}`);
    expect(stranger).toBe(1);
  });

  it('a worker connection uses the same flags (and their environment variables)', async () => {
    const settings = connectionSettings(new Args(['--address', address], { values: ['address'] }), {
      TEMPORAL_TLS_CA: file('ca.pem'), TEMPORAL_TLS_CERT: file('client.pem'), TEMPORAL_TLS_KEY: file('client.key'), TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    });
    const connection = await NativeConnection.connect({ address: settings.address, tls: settings.tls });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^\d+\.\d+/);
    } finally {
      await connection.close();
    }
    expect(() => connectionSettings(new Args(['--tls-cert', 'x'], { values: ['tls-cert'] }), {})).toThrow('--tls-cert and --tls-key go together');
  });
});
