import { ERRORS, type ErrorBody, type ErrorCode } from '@sprocket/types';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Thrown anywhere in the server; the one error handler turns it into `{status, code, message}`. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.status = ERRORS[code];
  }
}

export const badRequest = (message: string) => new ApiError('BAD_REQUEST', message);
export const notFound = (what: string) => new ApiError('NOT_FOUND', `${what} not found`);
export const forbidden = (message = 'permission denied') => new ApiError('FORBIDDEN', message);
export const conflict = (message: string) => new ApiError('CONFLICT', message);

function toBody(err: FastifyError | ApiError | Error, req?: FastifyRequest): ErrorBody {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message };
  const fe = err as FastifyError;
  if (fe.validation) {
    // Fastify names the part (body, querystring, params) and the field in `validationContext`/instancePath.
    const first = fe.validation[0];
    const where = `${fe.validationContext ?? 'request'}${first?.instancePath ? first.instancePath.replaceAll('/', '.') : ''}`;
    const extra =
      first?.keyword === 'additionalProperties'
        ? ` '${(first.params as { additionalProperty?: string }).additionalProperty}'`
        : first?.keyword === 'required'
          ? ` '${(first.params as { missingProperty?: string }).missingProperty}'`
          : '';
    const message = first ? schemaErrorMessage(first) : fe.message;
    return { status: 400, code: 'VALIDATION', message: `${where}: ${message}${extra}` };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = req?.headers['content-type'] ?? '(none)';
    return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: `Content-Type ${type} is not accepted: send application/json (multipart/form-data for uploads)` };
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.code === 'FST_REQ_FILE_TOO_LARGE')
    return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: fe.message };
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
    return { status: 400, code: 'INVALID_JSON', message: fe.message };
  if (fe instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    return { status: 400, code: 'INVALID_JSON', message: `body is not valid JSON: ${fe.message}` };
  const dbCode = (err as { code?: unknown; severity?: unknown }).severity ? (err as { code?: unknown }).code : undefined;
  if (typeof dbCode === 'string' && dbCode.startsWith('22')) {
    // PostgreSQL class 22 (data exception): a value from the request the database cannot take.
    return { status: 400, code: 'BAD_REQUEST', message: `invalid value: ${err.message}` };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: fe.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message: fe.message };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal server error' };
}

/** A JSON-schema error's message; the label format (routes/schemas.ts) says what it refuses rather than just its name. */
export function schemaErrorMessage(e: { keyword: string; params: unknown; message?: string }): string {
  if (e.keyword === 'format' && (e.params as { format?: string }).format === 'no-control-characters')
    return 'must not contain control characters (ANSI escapes, tabs, newlines, U+0000-U+001F, U+007F-U+009F)';
  return e.message ?? 'is invalid';
}

/** For Fastify's `frameworkErrors`: failures before routing (an undecodable URL) get the same JSON body. */
export function sendFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const body = toBody(err, req);
  void reply.status(body.status).type('application/json').send(body);
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const body = toBody(err as Error, req);
    if (body.status >= 500) req.log.error({ err }, 'request failed');
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply.status(body.status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ status: 404, code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
