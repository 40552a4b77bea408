export { SPROCKET_VERSION as SDK_VERSION } from '@sprocket/types';
export { Client, type ClientOptions, type LookupResult, type ResolveResult } from './client.js';
export { Collection, type CollectionInput, type CollectionMember } from './collections.js';
export {
  Acquisition,
  Analysis,
  type AnalysisInputSpec,
  Container,
  FileEntry,
  Group,
  ParentContainer,
  Project,
  Session,
  Subject,
  type UploadOptions,
} from './containers.js';
export { ApiError, type ApiErrorCode, isApiError, SdkError } from './errors.js';
export type { DownloadOptions, DownloadToOptions, UploadSource, ZipInfo, ZipMember } from './files.js';
export { Finder, type FindOptions, PAGE_SIZE } from './finder.js';
export {
  Batch,
  BatchProposal,
  Gear,
  type GearConfigSpec,
  type GearInputSpec,
  type GearManifest,
  type GearRunOptions,
  type ProposeBatchOptions,
} from './gears.js';
export { HttpTransport } from './http-transport.js';
export {
  type ContainerLabel,
  type GearInfo,
  Job,
  type JobListing,
  launchedBy,
  type WaitOptions,
  type WaitProgress,
  waitForJobs,
} from './jobs.js';
export { configDir, type ParsedKey, parseApiKey, readStoredKey, removeStoredKey, storeKey, userConfigPath } from './key.js';
export { Model, type ModelClass, type ModelContext } from './model.js';
export { LIST_QUERY, type Method, ROUTES, type RouteArea, type RouteDef, type RouteName } from './routes.js';
export type { CallOptions, QueryValue, RawOptions, RequestRecord, Transport, TransportOptions } from './transport.js';
export type * from './types.js';
export { type ApiKey, type IssuedApiKey, User } from './users.js';
export {
  type AnalysisFilter,
  type DataViewSpec,
  fileView,
  type NameFilter,
  ViewBuilder,
  type ViewColumn,
  type ViewColumnType,
  type ViewFileSpec,
  type ViewFormat,
  type ViewOptions,
  type ViewRow,
} from './views.js';
