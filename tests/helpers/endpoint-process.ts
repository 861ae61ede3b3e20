/**
 * The embedded endpoint alone in a process of its own, so a test can `kill -9` it: prints
 * `READY <port>` once it listens. Arguments: the data folder, then `release` to release messages
 * left in flight by the previous run.
 */
import { startEmbeddedEndpoint } from '../../scripts/local/endpoint.ts';

const [dataDir, mode] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: endpoint-process.ts <data folder> [release]');
const endpoint = await startEmbeddedEndpoint({
  port: 0,
  dataDir,
  releaseInFlight: mode === 'release',
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`READY ${endpoint.port}\n`);
