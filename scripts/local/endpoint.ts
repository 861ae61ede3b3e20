import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CreatedObject } from '../../functions/shared/s3-notification.ts';
import { type FauxqsInternals, fauxqsInternals, type S3Store } from './fauxqs.ts';

/** An object-created event seen by the embedded endpoint: what a notification names. */
export type ObjectCreated = CreatedObject;

/**
 * The largest request body the embedded endpoint takes (fauxqs's own limit): one PutObject, or one
 * part of a multipart upload. Larger objects are uploaded in parts (the generator and the tools do
 * so above `MULTIPART_PART_BYTES` of functions/shared/upload.ts).
 */
export const MAX_REQUEST_BYTES = 11 * 1024 * 1024;

/** Options of {@link startEmbeddedEndpoint}. */
export interface EmbeddedEndpointOptions {
  /** Port on 127.0.0.1 (0 = any free port). */
  port: number;
  /**
   * Keep buckets, objects and queues in this folder: objects as files under `s3/`, queues and their
   * messages in SQLite under `sqs/`, written through on every change, so a stop, a crash or a
   * `kill -9` loses nothing that was acknowledged. Unset, everything lives in memory (tests).
   */
  dataDir?: string;
  /**
   * Make messages that were in flight when the endpoint last stopped visible again at once, instead
   * of after their visibility timeout. Right only when no consumer of the previous run can still be
   * working on them (the local runtime holds the data folder's lock).
   */
  releaseInFlight?: boolean;
  /** Progress lines for humans (what was restored or repaired). */
  log?: (line: string) => void;
}

/** The running embedded S3+SQS endpoint. */
export interface EmbeddedEndpoint {
  url: string;
  port: number;
  /** Messages made visible again at start (see {@link EmbeddedEndpointOptions.releaseInFlight}). */
  released: number;
  /** Called after every successful object creation (the notification bridge subscribes here). */
  onObjectCreated(listener: (e: ObjectCreated) => void): void;
  stop(): Promise<void>;
}

// S3 sub-resource requests (PUT ?tagging, ?acl, …) change an object without creating one.
const SUBRESOURCES = ['tagging', 'acl', 'retention', 'legal-hold', 'partNumber'];

/**
 * Start fauxqs (S3 + SQS over the real AWS wire protocols) on 127.0.0.1 only, in memory or with its
 * state on disk under `dataDir`.
 *
 * fauxqs has no S3 event notifications, so object creations are observed here, after the response
 * is sent: a successful PutObject, CopyObject or CompleteMultipartUpload. Size and ETag are read back
 * with an in-process HEAD, so listeners see exactly what a GetObject will return.
 *
 * A request body above {@link MAX_REQUEST_BYTES} is read to its end and answered with S3's
 * `EntityTooLarge` error saying to upload in parts: refused before being read, the client would see
 * only a broken pipe.
 */
export async function startEmbeddedEndpoint(options: EmbeddedEndpointOptions): Promise<EmbeddedEndpoint> {
  const fauxqs = await fauxqsInternals();
  const log = options.log ?? (() => {});
  const { app, stores, closePersistence } = await build(fauxqs, options, log);
  const listeners: ((e: ObjectCreated) => void)[] = [];

  app.addHook('onRequest', async (request, reply) => {
    const declared = Number(
      request.headers['x-amz-decoded-content-length'] ?? request.headers['content-length'] ?? 0,
    );
    if (!(declared > MAX_REQUEST_BYTES) || (request.method !== 'PUT' && request.method !== 'POST')) return;
    await new Promise<void>((resolve) => {
      request.raw.once('end', resolve);
      request.raw.once('error', () => resolve());
      request.raw.resume();
    });
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    return reply
      .code(400)
      .header('content-type', 'application/xml')
      .header('connection', 'close')
      .send(
        [
          '<?xml version="1.0" encoding="UTF-8"?>',
          '<Error>',
          '  <Code>EntityTooLarge</Code>',
          `  <Message>The embedded endpoint takes at most ${mib(MAX_REQUEST_BYTES)} per request and this one has ${mib(declared)}: upload the object in parts (multipart upload, e.g. Upload from @aws-sdk/lib-storage, or aws s3 cp)</Message>`,
          `  <MaxSizeAllowed>${MAX_REQUEST_BYTES}</MaxSizeAllowed>`,
          `  <ProposedSize>${declared}</ProposedSize>`,
          '</Error>',
        ].join('\n'),
      );
  });

  app.addHook('onResponse', async (request, reply) => {
    if (listeners.length === 0 || reply.statusCode !== 200) return;
    const url = new URL(request.url, 'http://local');
    const query = url.searchParams;
    let kind: ObjectCreated['kind'];
    if (request.method === 'PUT' && !SUBRESOURCES.some((s) => query.has(s)) && !query.has('uploadId')) {
      kind = request.headers['x-amz-copy-source'] ? 'Copy' : 'Put';
    } else if (request.method === 'POST' && query.has('uploadId')) {
      kind = 'CompleteMultipartUpload';
    } else {
      return;
    }
    const slash = url.pathname.indexOf('/', 1);
    if (slash < 0 || slash === url.pathname.length - 1) return; // PUT /bucket is CreateBucket
    const bucket = decodeURIComponent(url.pathname.slice(1, slash));
    const key = decodeURIComponent(url.pathname.slice(slash + 1));
    const head = await app.inject({ method: 'HEAD', url: `/${bucket}/${encodeKeyPath(key)}` });
    if (head.statusCode !== 200) return;
    const event: ObjectCreated = {
      bucket,
      key,
      size: Number(head.headers['content-length'] ?? 0),
      etag: String(head.headers.etag ?? '').replace(/"/g, ''),
      kind,
      at: new Date(),
    };
    for (const listener of listeners) listener(event);
  });
  app.addHook('onClose', () => closePersistence());

  let released = 0;
  if (options.releaseInFlight) {
    for (const queue of stores.sqs.allQueues()) {
      const inflight = queue.inspectMessages().inflight;
      // A deadline in the past, not 0: fauxqs 2.4's path for 0 writes a NULL receive count, which
      // its SQLite schema refuses. Expired, the message is made visible by the next receive.
      for (const m of inflight) queue.changeVisibility(m.receiptHandle, -1);
      released += inflight.length;
    }
    if (released > 0)
      log(`endpoint: ${released} message(s) in flight when it last stopped are visible again`);
  }

  try {
    await app.listen({ port: options.port, host: '127.0.0.1' });
  } catch (e: unknown) {
    await app.close().catch(() => {});
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    released,
    onObjectCreated: (listener) => listeners.push(listener),
    stop: () => app.close(),
  };
}

/** The app over stores restored from `dataDir` (when given), with persistence wired in. */
async function build(fauxqs: FauxqsInternals, options: EmbeddedEndpointOptions, log: (line: string) => void) {
  const sqs = new fauxqs.SqsStore();
  const sns = new fauxqs.SnsStore();
  let s3 = new fauxqs.S3Store();
  let queues: InstanceType<FauxqsInternals['PersistenceManager']> | undefined;
  let objects: InstanceType<FauxqsInternals['FileS3Persistence']> | undefined;
  if (options.dataDir) {
    queues = new fauxqs.PersistenceManager(path.join(options.dataDir, 'sqs'));
    const s3Dir = path.join(options.dataDir, 's3');
    objects = new fauxqs.FileS3Persistence(s3Dir);
    // Load before wiring persistence in, as fauxqs does: a load must not write anything back.
    queues.loadSqsAndSns(sqs, sns);
    s3 = await loadObjects(fauxqs, objects, s3Dir, log);
    sqs.persistence = queues;
    sns.persistence = queues;
    for (const queue of sqs.allQueues()) queue.persistence = queues;
    s3.persistence = objects;
  }
  const app = fauxqs.buildApp({
    logger: false,
    host: '127.0.0.1',
    stores: { sqsStore: sqs, snsStore: sns, s3Store: s3 },
  } as Parameters<typeof fauxqs.buildApp>[0]);
  return {
    app,
    stores: { sqs, s3 },
    closePersistence: () => {
      queues?.close();
      objects?.close();
    },
  };
}

/**
 * Restore the objects' metadata from `s3Dir`. An object's metadata file is written after its body
 * and before the PUT is answered, so one cut short by a crash belongs to a PUT that was never
 * acknowledged: such files are removed (with the body beside them) and the load is tried again.
 */
async function loadObjects(
  fauxqs: FauxqsInternals,
  persistence: InstanceType<FauxqsInternals['FileS3Persistence']>,
  s3Dir: string,
  log: (line: string) => void,
): Promise<S3Store> {
  const store = new fauxqs.S3Store();
  try {
    persistence.loadS3(store);
    return store;
  } catch (e: unknown) {
    if (!(e instanceof SyntaxError)) throw e;
  }
  const removed = await removeUnreadableMetadata(path.join(s3Dir, 'buckets'));
  for (const file of removed)
    log(
      `endpoint: removed ${path.relative(s3Dir, file)}, the remains of a PUT cut short (never acknowledged)`,
    );
  const retry = new fauxqs.S3Store();
  persistence.loadS3(retry);
  return retry;
}

/** Delete every `*.meta.json` under `dir` that is not JSON, and its `.data` body; returns them. */
export async function removeUnreadableMetadata(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.meta.json')) continue;
    const file = path.join(entry.parentPath, entry.name);
    try {
      JSON.parse(await readFile(file, 'utf8'));
    } catch {
      await rm(file, { force: true });
      await rm(file.replace(/\.meta\.json$/, '.data'), { force: true });
      removed.push(file);
    }
  }
  return removed;
}

function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
