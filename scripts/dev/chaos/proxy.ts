import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of the embedded S3+SQS endpoint, so that the chaos run can take
 * the endpoint away from its clients without losing its state.
 *
 * Why not stop fauxqs itself: its buckets, objects and queues live in its process memory, so a
 * stopped-and-restarted endpoint comes back empty, which no real S3/SQS outage does. Cutting the
 * proxy shows clients exactly what an outage looks like on the wire (open connections reset, new
 * ones refused) while the queues and objects survive, as they do on AWS.
 */
export class OutageProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Connections reset by {@link cut}, over the proxy's life. */
  resetConnections = 0;

  private constructor(
    private readonly targetPort: number,
    private boundPort: number,
  ) {}

  /** Listen on a free port (or `port`) and forward every connection to `targetPort`. */
  static async start(targetPort: number, port = 0): Promise<OutageProxy> {
    const proxy = new OutageProxy(targetPort, port);
    proxy.boundPort = await proxy.listen(port);
    return proxy;
  }

  /** The port clients connect to; the same before and after an outage. */
  get port(): number {
    return this.boundPort;
  }

  /** The URL clients use instead of the endpoint's own. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The outage begins: stop listening (new connections refused) and reset every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) {
      s.resetAndDestroy();
      this.resetConnections++;
    }
    this.sockets.clear();
    await closed;
  }

  /** The outage ends: listen again on the same port. */
  async restore(): Promise<void> {
    if (this.server) return;
    await this.listen(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private listen(port: number): Promise<number> {
    const server = net.createServer((c) => this.forward(c));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        server.removeListener('error', reject);
        this.server = server;
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  private forward(client: net.Socket): void {
    const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1' });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const done = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // Errors here are the outage itself (or a client giving up); the other side is torn down too.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', done);
    upstream.on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
