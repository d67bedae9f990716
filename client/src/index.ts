/**
 * @zkgate/client: zkgate's Node SDK. See README.md.
 */
export { createClient, ZkgateClient, type ClientOptions, type ConfigOptions } from './client.js';
export {
  ConfigHandle,
  type ConfigChange,
  type ConfigHandleEvents,
  type InvalidDocument,
  type Parse,
} from './config.js';
export { ServiceView, type DiscoverOptions, type ServiceViewEvents } from './discovery.js';
export {
  ConflictError,
  ForbiddenError,
  InvalidDocumentError,
  NotFoundError,
  RequestError,
  UnauthorizedError,
  UnavailableError,
  ZkgateError,
  type Problem,
} from './errors.js';
export {
  STRATEGY_NAMES,
  type Instance,
  type InstanceStatus,
  type LoadReport,
  type PickOptions,
  type StrategyName,
} from './instances.js';
export { Registration, type HealthCheck, type RegisterOptions } from './registration.js';
export type { Logger } from './transport.js';
export type { WatchOptions } from './watch.js';
