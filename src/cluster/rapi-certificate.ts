import { z } from 'zod';

/**
 * RAPI's key and self-signed certificate, in PEM: made at cluster init and kept in the replicated
 * configuration, so that every node serves the same one (Ganeti keeps rapi.pem on its master candidates).
 * No view, answer or job record carries it.
 */
export const rapiCertificateSchema = z.object({
  cert: z.string().min(1).max(16_384),
  key: z.string().min(1).max(16_384),
});
export type RapiCertificate = z.infer<typeof rapiCertificateSchema>;

/** Ganeti's self-signed certificates last five years. */
const VALID_DAYS = 5 * 365;

export async function newRapiCertificate(clusterName: string): Promise<RapiCertificate> {
  // Loaded here: the X.509 code weighs on every CLI command that only reads the schema above. Its default
  // export, a CommonJS module's exports: from the CLI bundle, esbuild gives no named export of such a module.
  const { default: selfsigned } = await import('selfsigned');
  const now = new Date();
  const pems = await selfsigned.generate([{ name: 'commonName', value: clusterName }], {
    keySize: 2048,
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + VALID_DAYS * 86_400_000),
    algorithm: 'sha256',
  });
  return { cert: pems.cert, key: pems.private };
}
