/**
 * The part of the SDK a browser bundle may import (`@sprocket/sdk/browser`): the transport over
 * fetch, its errors, the route table and the wire types. The package's main entry also holds the
 * key store and file helpers, which need Node's fs and crypto.
 */
export { ApiError, type ApiErrorCode, isApiError, SdkError } from './errors.js';
export { HttpTransport } from './http-transport.js';
export { LIST_QUERY, type Method, ROUTES, type RouteArea, type RouteDef, type RouteName } from './routes.js';
export type { CallOptions, QueryValue, RawOptions, RequestRecord, Transport, TransportOptions } from './transport.js';
export type * from './types.js';
