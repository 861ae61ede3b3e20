import { buildApp } from 'fauxqs';
import type { CreatedObject } from '../../functions/shared/s3-notification.ts';

/** An object-created event seen by the embedded endpoint: what a notification names. */
export type ObjectCreated = CreatedObject;

/** The running embedded S3+SQS endpoint. */
export interface EmbeddedEndpoint {
  url: string;
  port: number;
  /** Called after every successful object creation (the notification bridge subscribes here). */
  onObjectCreated(listener: (e: ObjectCreated) => void): void;
  stop(): Promise<void>;
}

// S3 sub-resource requests (PUT ?tagging, ?acl, …) change an object without creating one.
const SUBRESOURCES = ['tagging', 'acl', 'retention', 'legal-hold', 'partNumber'];

/**
 * Start fauxqs (S3 + SQS over the real AWS wire protocols) on 127.0.0.1 only.
 *
 * fauxqs has no S3 event notifications, so object creations are observed here, after the response
 * is sent: a successful PutObject, CopyObject or CompleteMultipartUpload. Size and ETag are read back
 * with an in-process HEAD, so listeners see exactly what a GetObject will return.
 */
export async function startEmbeddedEndpoint(options: { port: number }): Promise<EmbeddedEndpoint> {
  const app = buildApp({ logger: false, host: '127.0.0.1' });
  const listeners: ((e: ObjectCreated) => void)[] = [];

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

  await app.listen({ port: options.port, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    onObjectCreated: (listener) => listeners.push(listener),
    stop: () => app.close(),
  };
}

function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
