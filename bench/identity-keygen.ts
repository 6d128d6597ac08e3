/**
 * How the device key pair is made (DESIGN.md "Certificate authority": node-forge, RSA 2048+ through
 * native crypto — measure). Compares, in one run:
 *
 * - forge.pki.rsa.generateKeyPair, sync       forge's native path: crypto.generateKeyPairSync inside
 * - forge.pki.rsa.generateKeyPair, callback   forge's native path: crypto.generateKeyPair inside
 * - crypto.generateKeyPair (KeyObject)        what identity/ uses; forge only sees the public key
 * - crypto.generateKeyPairSync + forge import what the server's CA does
 *
 * and the certificate signature: forge's `cert.sign` (JavaScript RSA) against signing forge's
 * to-be-signed DER with `crypto.sign` (identity/certificate.ts). For each: median and p95 wall time,
 * and the longest the event loop was blocked (what an Electron main process or a daemon would feel).
 *
 *   node --conditions=tsunagu-source --import tsx bench/identity-keygen.ts [--n 30]
 */
import { createPrivateKey, generateKeyPair, generateKeyPairSync, sign } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { numberOption, stats } from './stats.js';

const N = numberOption('n', 30);
const generateAsync = promisify(generateKeyPair);

async function measure(name: string, fn: () => unknown): Promise<void> {
  const times: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    await new Promise((r) => setImmediate(r)); // let the delay monitor see each run apart
  }
  h.disable();
  const { p50, p95 } = stats(times);
  console.log(
    `${name.padEnd(48)} median ${p50.toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  ` +
      `event loop blocked ≤ ${(h.max / 1e6).toFixed(1).padStart(6)} ms`,
  );
}

const RSA = { modulusLength: 2048, publicExponent: 0x10001 } as const;

await measure('forge generateKeyPair (sync, native)', () =>
  forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 }),
);
await measure(
  'forge generateKeyPair (callback, native async)',
  () =>
    new Promise((resolve, reject) =>
      forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 }, (err, keys) =>
        err ? reject(err) : resolve(keys),
      ),
    ),
);
await measure('crypto.generateKeyPair → KeyObject (async)', () => generateAsync('rsa', RSA));
await measure('crypto.generateKeyPairSync + forge import', () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    ...RSA,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return forge.pki.privateKeyFromPem(privateKey);
});

const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
const keyObject = createPrivateKey(forge.pki.privateKeyToPem(keys.privateKey));
const newCert = () => {
  const c = forge.pki.createCertificate();
  c.publicKey = keys.publicKey;
  c.serialNumber = '4a01';
  c.validity.notBefore = new Date();
  c.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  c.setSubject([{ name: 'commonName', value: 'bench' }]);
  c.setIssuer([{ name: 'commonName', value: 'bench' }]);
  return c;
};
await measure('certificate: forge cert.sign (JavaScript RSA)', () =>
  newCert().sign(keys.privateKey, forge.md.sha256.create()),
);
const getTbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 })
  .getTBSCertificate;
await measure('certificate: forge TBS + crypto.sign (native)', () => {
  const c = newCert();
  c.siginfo.algorithmOid = c.signatureOid = forge.pki.oids['sha256WithRSAEncryption']!;
  const tbs = getTbs(c);
  c.tbsCertificate = tbs;
  c.signature = sign('sha256', Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'), keyObject).toString(
    'binary',
  );
  return forge.pki.certificateToPem(c);
});
