import { ERRORS, type ErrorBody, type ErrorCode, type ErrorParams, formatError } from '@sprocket/types';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Thrown anywhere in the server; the one error handler turns it into `{status, code, message}`. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.status = ERRORS[code].status;
  }
}

/** A catalogue entry with its message template filled: `apiError('JOB_NOT_FOUND', { id })`. */
export const apiError = <C extends ErrorCode>(code: C, params: ErrorParams<C>) => new ApiError(code, formatError(code, params));

// The generic codes, for failures no area of the catalogue owns.
export const badRequest = (message: string) => apiError('BAD_REQUEST', { reason: message });
export const notFound = (what: string) => apiError('NOT_FOUND', { what });
export const forbidden = (message = 'permission denied') => apiError('FORBIDDEN', { reason: message });
export const conflict = (message: string) => apiError('CONFLICT', { reason: message });

function toBody(err: FastifyError | ApiError | Error, req?: FastifyRequest): ErrorBody {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message };
  const fe = err as FastifyError;
  if (fe.validation) {
    // Fastify names the part (body, querystring, params, headers) in `validationContext`; the error names the rest.
    const first = fe.validation[0];
    const message = first ? schemaErrorMessage(first, fe.validationContext ?? 'request') : fe.message;
    return { status: ERRORS.VALIDATION.status, code: 'VALIDATION', message };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = req?.headers['content-type'] ?? '(none)';
    return {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `Content-Type ${type} is not accepted: send application/json (multipart/form-data for uploads)`,
    };
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

/** What a JSON-schema validator reports about one failure (ajv's `ErrorObject`, structurally). */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: unknown;
  message?: string;
}

/** `/files/0/type` → `.files[0].type`: the dotted form every other message uses for a place. */
export function instancePathToDots(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`))
    .join('');
}

const quote = (v: unknown) => JSON.stringify(v);

/**
 * One schema failure as `{at, rule}`: `at` is the place below the instance path (the missing or
 * unknown property for the keywords that name one: ajv's own message names it too, which made
 * "must have required property '_id' '_id'"), `rule` what the value there breaks, naming neither
 * the field nor the place again. Keywords not listed keep ajv's message, which names no field.
 */
export function describeSchemaError(e: SchemaError): { at: string; rule: string } {
  const p = (e.params ?? {}) as Record<string, unknown>;
  const at = instancePathToDots(e.instancePath);
  const below = (prop: unknown) => `${at}${typeof prop === 'string' && /^\d+$/.test(prop) ? `[${prop}]` : `.${String(prop)}`}`;
  switch (e.keyword) {
    case 'required':
      return { at: below(p.missingProperty), rule: 'is required' };
    case 'dependencies':
    case 'dependentRequired':
      return { at: below(p.missingProperty), rule: `is required when '${String(p.property)}' is given` };
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const prop = p.additionalProperty ?? p.unevaluatedProperty;
      return { at: below(prop), rule: 'is not a known property here' };
    }
    case 'propertyNames':
      return { at: below(p.propertyName), rule: 'is not an allowed property name' };
    case 'type': {
      const types = Array.isArray(p.type) ? p.type : String(p.type).split(',');
      return { at, rule: `must be ${types.join(' or ')}` };
    }
    case 'enum':
      return { at, rule: `must be one of ${(p.allowedValues as unknown[] | undefined)?.map(quote).join(', ') ?? 'the allowed values'}` };
    case 'const':
      return { at, rule: `must be ${quote(p.allowedValue)}` };
    case 'format':
      if (p.format === NO_CONTROL_CHARACTERS_FORMAT)
        return { at, rule: 'must not contain control characters (ANSI escapes, tabs, newlines, U+0000-U+001F, U+007F-U+009F)' };
      return { at, rule: `must be a valid ${String(p.format)}` };
    case 'pattern':
      return { at, rule: `must match the pattern ${String(p.pattern)}` };
    case 'minLength':
      return { at, rule: `must be at least ${String(p.limit)} character${p.limit === 1 ? '' : 's'} long` };
    case 'maxLength':
      return { at, rule: `must be at most ${String(p.limit)} characters long` };
    case 'minItems':
      return { at, rule: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` };
    case 'maxItems':
      return { at, rule: `must have at most ${String(p.limit)} items` };
    case 'minProperties':
      return { at, rule: `must have at least ${String(p.limit)} propert${p.limit === 1 ? 'y' : 'ies'}` };
    case 'maxProperties':
      return { at, rule: `must have at most ${String(p.limit)} properties` };
    case 'uniqueItems': {
      const [first, second] = [Number(p.i), Number(p.j)].sort((x, y) => x - y);
      return { at, rule: `must not repeat items (items ${first} and ${second} are equal)` };
    }
    default:
      // minimum, maximum, multipleOf, anyOf, oneOf, not, if …: ajv's message names only the rule.
      return { at, rule: e.message ?? 'is invalid' };
  }
}

/** The label format of routes/schemas.ts, spelled out here so errors.ts depends on nothing in routes/. */
const NO_CONTROL_CHARACTERS_FORMAT = 'no-control-characters';

/** A schema failure as one message that names the place (`body`, `querystring` …) and the field once: `body._id: is required`. */
export function schemaErrorMessage(e: SchemaError, where: string): string {
  const { at, rule } = describeSchemaError(e);
  return `${where}${at}: ${rule}`;
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
    const body: ErrorBody = {
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      message: formatError('ROUTE_NOT_FOUND', { method: req.method, path: req.url.split('?')[0] ?? '' }),
    };
    void reply.status(body.status).send(body);
  });
}
