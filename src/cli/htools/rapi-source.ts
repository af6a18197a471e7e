import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { RapiBodies } from '../../alloc/rapi-backend.js';
import { CorralError } from '../../common/errors.js';

/**
 * The four RAPI answers htools read (-m ADDRESS), as Ganeti's Backend/Rapi.hs fetches them: from
 * https://ADDRESS:5080 (an address with a colon is taken as a whole URL), without checking the cluster's
 * self-signed certificate as Ganeti does not, or from the files groups.json, nodes.json, instances.json and
 * info.json of a file:// directory.
 */
const RAPI_PORT = 5080;
const QUERY_TIMEOUT_MS = 60_000;

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) =>
      reject(new CorralError('unavailable', `Curl error for '${url}', error ${why}`));
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const request = get(url, { rejectUnauthorized: false, timeout: QUERY_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode === 200) resolve(body);
        else fail(`HTTP ${response.statusCode}: ${body.slice(0, 200)}`);
      });
      response.on('error', (error) => fail(error.message));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => fail(error.message));
  });
}

export async function readRapi(master: string): Promise<RapiBodies> {
  if (master.startsWith('file://')) {
    const dir = master.slice('file://'.length);
    const read = (name: string): string => {
      try {
        return readFileSync(join(dir, name), 'utf8');
      } catch (error) {
        throw new CorralError('not_found', `${join(dir, name)}: ${(error as NodeJS.ErrnoException).code}`);
      }
    };
    return {
      groups: read('groups.json'),
      nodes: read('nodes.json'),
      instances: read('instances.json'),
      info: read('info.json'),
    };
  }
  const base = master.includes(':') ? master : `https://${master}:${RAPI_PORT}`;
  const [groups, nodes, instances, info] = await Promise.all([
    fetchText(`${base}/2/groups?bulk=1`),
    fetchText(`${base}/2/nodes?bulk=1`),
    fetchText(`${base}/2/instances?bulk=1`),
    fetchText(`${base}/2/info`),
  ]);
  return { groups, nodes, instances, info };
}
