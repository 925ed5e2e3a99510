export type {
  RequestView, ClassificationResult, ServerTarget, ProxyStateView, RouteDestination, RouteTrigger, RouteAttempt,
  RoutedRequest, RouteSkip, RouteDecision, RouteFailure, NumberView, NumberManipulationResult, SipTransport,
} from './types.js';
export { compilePrefix, compileHost, compileAddress, PrefixSyntaxError, AddressSyntaxError } from '../syntax/pattern.js';
export type { PrefixPattern, HostPattern, AddressPattern } from '../syntax/pattern.js';
export { classify } from './classify.js';
export { routeRequest, nextAlternative, failureTriggersAlternative, staticProxyState, describeDestination } from './route.js';
export { applyNumberManipulation, manipulateUser } from './number-manipulation.js';
export { explainRoute, type RouteExplanation } from './explain.js';
export {
  ProxySetManager, systemResolver,
  type KeepAliveProber, type DnsResolver, type SrvRecord, type ProxySetManagerOptions, type ProxySetManagerEvents, type ServerStatus, type ServerEvent, type ProxyLogger,
} from './proxy-set.js';
export { callTags, lookupDialPlan, tagsMatch, type CallTags, type DialPlanMatch } from './dial-plan.js';
