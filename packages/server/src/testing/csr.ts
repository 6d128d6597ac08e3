import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { derFromPem, forgePublicKey, signCertificationRequest } from '../ca/x509.js';

/**
 * A PKCS#10 request as a terminal makes one (RSA, SHA-256, SAN URIs in an extensionRequest), for tests
 * and the issuance benchmark. `names` overrides what it asks for, to make requests for someone else.
 */
export function testCertificateRequest(o: {
  aor: string;
  instance: string;
  bits?: number;
  names?: { type: number; value: string }[];
  key?: KeyObject;
}): { der: Buffer; pem: string; key: KeyObject } {
  const key = o.key ?? generateKeyPairSync('rsa', { modulusLength: o.bits ?? 2048 }).privateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(key);
  csr.setSubject([{ name: 'commonName', value: o.aor.replace(/^sips?:/, '') }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: o.names ?? [
            { type: 6, value: o.aor },
            { type: 6, value: o.instance },
          ],
        },
      ],
    },
  ]);
  const pem = signCertificationRequest(csr, key);
  return { der: derFromPem(pem), pem, key };
}
