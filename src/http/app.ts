import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AccessControl } from '../auth/access-control.js';
import type { Registry } from '../core/registry.js';
import type { ZeroCopySender } from '../native/zero-copy-sender.js';
import type { BodyReceiver } from '../native/body-receiver.js';
import { requestsLoggedByPump } from './distribution/blob-pump.js';
import { directBytesIn } from './distribution/direct-body.js';
import { registerDistributionRoutes } from './distribution/routes.js';
import { errorBody, handleError } from './errors.js';
import { registerHealthRoutes } from './health.js';
import { registerManagementApi } from './api/plugin.js';
import { registerTokenRoutes } from './token/token-routes.js';
import type { ControlPanel } from './ui/control-panel.js';

export interface HttpOptions {
  logger: Logger;
  /** A connection idle this long is closed; a slow upload that keeps sending is never cut off. */
  idleTimeoutMs: number;
  /**
   * Addresses (or CIDRs) of load balancers whose X-Forwarded-For/-Proto/-Host are believed:
   * the client address then comes from there (audit log, login throttling), and the token
   * realm gets the scheme the client used. Empty: the peer is the client.
   */
  trustedProxies?: string[];
  /** The web control panel served at `/`; none: only the APIs. */
  controlPanel?: ControlPanel;
  /** Sends blob bodies with sendfile(2) (see BlobSending); none: through userland buffers. */
  zeroCopy?: ZeroCopySender;
  /** Receives upload bodies on a native thread (see BodyReceiving); none: streamed through Node. */
  receiver?: BodyReceiver;
}

export function buildApp(registry: Registry, access: AccessControl, options: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One log line per request, written by our onResponse hook, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    trustProxy: options.trustedProxies && options.trustedProxies.length > 0 ? options.trustedProxies : false,
    requestIdHeader: 'x-request-id',
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // No total deadline per request (a 10 GiB layer may take an hour); inactivity closes the socket instead.
    requestTimeout: 0,
    connectionTimeout: options.idleTimeoutMs,
    routerOptions: { maxParamLength: 8192 },
    clientErrorHandler: (err, socket) => {
      // Malformed HTTP (e.g. headers over the size limit) never reaches a handler: answer in the spec's shape.
      if (!socket.writable) return;
      const tooLarge = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      const body = JSON.stringify(errorBody(tooLarge ? 'SIZE_INVALID' : 'UNSUPPORTED', tooLarge ? 'request headers too large' : 'malformed HTTP request'));
      socket.end(
        `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });

  // Bodies are streams handled by the routes themselves, never parsed or buffered by the framework.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  // Wire bytes (headers included) per request, from the socket's counters: works for streamed and chunked bodies alike.
  // Bytes read count from where the connection's previous request ended: by this hook Node has
  // already read the headers and the body's first bytes, which a snapshot taken here would miss.
  const socketBytesAtStart = new WeakMap<object, { read: number; written: number }>();
  const readAccountedTo = new WeakMap<object, number>();
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const socket = req.raw.socket;
    socketBytesAtStart.set(req, { read: (socket && readAccountedTo.get(socket)) ?? 0, written: socket?.bytesWritten ?? 0 });
  });
  app.addHook('onResponse', async (req, reply) => {
    const socket = req.raw.socket;
    if (socket) readAccountedTo.set(socket, socket.bytesRead);
    if (requestsLoggedByPump.has(req)) return;
    req.log.info(
      {
        method: req.method,
        path: req.url.split('?', 1)[0],
        status: reply.statusCode,
        bytesIn: (req.raw.socket?.bytesRead ?? 0) - (socketBytesAtStart.get(req)?.read ?? 0) + (directBytesIn.get(req.raw) ?? 0),
        bytesOut: (req.raw.socket?.bytesWritten ?? 0) - (socketBytesAtStart.get(req)?.written ?? 0),
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  // While shutting down, answers still in flight close their connection, so keep-alive
  // clients do not hold the process open after their last response.
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (draining) reply.header('connection', 'close');
  });

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0]!;
    if (path === '/v2' || path.startsWith('/v2/')) {
      // Every path under /v2/ is routed for the methods Berth knows, so only an unknown method lands here.
      reply
        .code(405)
        .headers({ 'docker-distribution-api-version': 'registry/2.0', allow: 'GET, HEAD, PUT, POST, PATCH, DELETE' })
        .type('application/json')
        .send(errorBody('UNSUPPORTED', `method ${req.method.slice(0, 20)} is not supported`));
      return;
    }
    // Pages of the control panel are the panel's to route; /api paths stay JSON.
    if (options.controlPanel && !path.startsWith('/api/') && options.controlPanel.serve(req, reply)) return;
    reply.code(404).type('application/json').send(errorBody('NOT_FOUND', `no such endpoint: ${req.method} ${req.url.split('?', 1)[0]!.slice(0, 200)}`));
  });

  registerHealthRoutes(app, registry);
  registerTokenRoutes(app, access);
  registerManagementApi(app, registry, access);
  const receiving = options.receiver ? { receiver: options.receiver, stallMs: options.idleTimeoutMs } : undefined;
  registerDistributionRoutes(app, registry, access, { zeroCopy: options.zeroCopy, stallMs: options.idleTimeoutMs }, receiving);
  return app;
}
