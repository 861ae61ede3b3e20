import { readFile } from 'node:fs/promises';
import { buildApp } from 'fauxqs';

/**
 * fauxqs's stores and persistence classes, which its package entry does not export.
 *
 * fauxqs's own `startFauxqs` wires persistence into the stores but always listens on 0.0.0.0; the
 * embedded endpoint must listen on 127.0.0.1 only, so it builds the app itself (`buildApp` with
 * `stores`) and wires persistence as `startFauxqs` does. The classes are loaded from the files next
 * to the package's entry (the same module instances `buildApp` uses), and only from the major
 * version this code was written against: another version fails here with a message, not later.
 */

/** An SQS queue as fauxqs keeps it (the members used here). */
export interface FauxqsQueue {
  name: string;
  persistence?: unknown;
  inspectMessages(): { inflight: { receiptHandle: string }[] };
  changeVisibility(receiptHandle: string, timeoutSeconds: number): void;
}

/** fauxqs's SQS store. */
export interface SqsStore {
  persistence?: unknown;
  allQueues(): Iterable<FauxqsQueue>;
}

/** fauxqs's SNS store (unused, but the app needs one). */
export interface SnsStore {
  persistence?: unknown;
}

/** fauxqs's S3 store. */
export interface S3Store {
  persistence?: unknown;
}

/** The SQLite persistence of queues (and topics). */
export interface SqlitePersistence {
  loadSqsAndSns(sqs: SqsStore, sns: SnsStore): void;
  close(): void;
}

/** The file persistence of buckets and objects. */
export interface FileS3Persistence {
  loadS3(s3: S3Store): void;
  close(): void;
}

/** The classes, ready to construct. */
export interface FauxqsInternals {
  version: string;
  SqsStore: new () => SqsStore;
  SnsStore: new () => SnsStore;
  S3Store: new () => S3Store;
  PersistenceManager: new (dataDir: string) => SqlitePersistence;
  FileS3Persistence: new (baseDir: string) => FileS3Persistence;
  buildApp: typeof buildApp;
}

/** The fauxqs major version whose internals this module knows. */
const KNOWN_MAJOR = 2;

let loaded: Promise<FauxqsInternals> | undefined;

/** Load fauxqs's internals once; throws naming the version when it is not the known major. */
export function fauxqsInternals(): Promise<FauxqsInternals> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<FauxqsInternals> {
  const entry = import.meta.resolve('fauxqs');
  const pkg = JSON.parse(await readFile(new URL('../package.json', entry), 'utf8')) as { version: string };
  if (Number(pkg.version.split('.')[0]) !== KNOWN_MAJOR)
    throw new Error(
      `The embedded endpoint is written for fauxqs ${KNOWN_MAJOR}.x, but fauxqs ${pkg.version} is installed: run npm ci`,
    );
  const at = (file: string) => import(new URL(file, entry).href);
  const [sqs, sns, s3, persistence, files] = await Promise.all([
    at('./sqs/sqsStore.js'),
    at('./sns/snsStore.js'),
    at('./s3/s3Store.js'),
    at('./persistence.js'),
    at('./s3/fileS3Persistence.js'),
  ]);
  return {
    version: pkg.version,
    SqsStore: sqs.SqsStore,
    SnsStore: sns.SnsStore,
    S3Store: s3.S3Store,
    PersistenceManager: persistence.PersistenceManager,
    FileS3Persistence: files.FileS3Persistence,
    buildApp,
  };
}
