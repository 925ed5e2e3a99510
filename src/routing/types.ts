import type { ClassificationRow, Ip2IpRoutingRow, IpGroupRow, IpProfileRow, NumberManipulationRow } from '../config/schema.js';

export type SipTransport = 'udp' | 'tcp' | 'tls' | 'ws';

/** What classification and routing read of a request (built once by the SIP layer). */
export interface RequestView {
  readonly method: string;
  readonly srcAddress: string;
  readonly srcPort: number;
  readonly transport: SipTransport;
  readonly sipInterfaceName: string;
  /** From user and host. */
  readonly srcUser: string;
  readonly srcHost: string;
  /** To user and host. */
  readonly dstUser: string;
  readonly dstHost: string;
  /** Request-URI user and host; DestUsernamePrefix/DestHost columns match these. */
  readonly requestUriUser: string;
  readonly requestUriHost: string;
  readonly requestUriPort?: number;
  /** Evaluates a MessageConditions row by name; absent = rows with a condition never match. */
  readonly matchesCondition?: (conditionName: string) => boolean;
}

export type ClassificationResult =
  | {
      readonly rejected: false;
      readonly ipGroup: IpGroupRow;
      /** The Classification row's IpProfileName if set, else the IP Group's profile. */
      readonly ipProfile: IpProfileRow | undefined;
      readonly by: 'proxy-set' | 'classification';
      readonly row?: ClassificationRow;
    }
  | {
      readonly rejected: true;
      /** SIP code to answer with, or 'drop' to stay silent. */
      readonly responseCode: number | 'drop';
      readonly reason: string;
      readonly row?: ClassificationRow;
    };

export interface ServerTarget {
  /** IP address (resolved) to send to. */
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** Host name as configured (for the Request-URI / TLS name); equals address for IP literals. */
  readonly host: string;
}

/** Live proxy state the router reads; ProxySetManager implements it. */
export interface ProxyStateView {
  /** A server IP Group is available when its proxy set has a live server (or has no keep-alive). */
  isIpGroupAvailable(ipGroupName: string): boolean;
  /** Live servers of a proxy set in the order they should be tried. */
  candidates(proxySetName: string): readonly ServerTarget[];
  /** Resolved addresses of a proxy set (for classification of host-name servers); optional. */
  addressesOf?(proxySetName: string): readonly string[];
}

export type RouteDestination =
  | { readonly kind: 'ip-group'; readonly ipGroup: IpGroupRow; readonly candidates: readonly ServerTarget[] }
  | { readonly kind: 'address'; readonly host: string; readonly port: number; readonly transport: 'udp' | 'tcp' | 'tls' }
  | { readonly kind: 'request-uri'; readonly host: string; readonly port: number; readonly transport: 'udp' | 'tcp' | 'tls' }
  | { readonly kind: 'registered-users'; readonly ipGroup: IpGroupRow }
  | { readonly kind: 'reject'; readonly responseCode: number };

export type RouteTrigger = 'initial' | '3xx' | 'refer' | 'broken-connection';

export interface RouteAttempt {
  readonly trigger?: RouteTrigger;
  /** For 3xx/REFER re-routing: the IP Group that redirected/referred. */
  readonly reRouteIpGroupName?: string;
  /** When given, a line per considered row is appended (for `sbc route`). */
  readonly trace?: string[];
}

export type RoutedRequest = RequestView & { readonly srcIpGroupName: string };

export interface RouteSkip {
  readonly row: Ip2IpRoutingRow;
  readonly reason: string;
}

export type RouteDecision =
  | {
      readonly kind: 'route';
      readonly row: Ip2IpRoutingRow;
      /** Position of `row` in config.ip2ipRouting. */
      readonly position: number;
      /** Position of the main (Route Row) row whose alternatives are being walked. */
      readonly mainPosition: number;
      readonly destination: RouteDestination;
      /** Destination IP Group (for profile, realm, outbound manipulation), when known. */
      readonly dstIpGroup: IpGroupRow | undefined;
      /** SIP Interface to send from: the row's, else the proxy set's. */
      readonly sipInterfaceName: string | undefined;
      /** Server to try now (ip-group destinations), index into destination.candidates. */
      readonly target: ServerTarget | undefined;
      readonly candidateIndex: number;
      /** 1 for the first destination tried, +1 per alternative. */
      readonly attempt: number;
      readonly request: RoutedRequest;
      readonly routeAttempt: RouteAttempt | undefined;
    }
  | {
      readonly kind: 'no-route';
      /** 404 when no row matched; 503 when every matching destination was unavailable. */
      readonly responseCode: number;
      readonly reason: string;
      readonly skipped: readonly RouteSkip[];
    };

export interface RouteFailure {
  /** Final response received from the destination; absent with noResponse. */
  readonly responseCode?: number;
  /** Timeout or transport error. */
  readonly noResponse?: boolean;
}

export interface NumberView {
  readonly method: string;
  readonly srcIpGroupName: string;
  /** Destination IP Group (outbound only). */
  readonly dstIpGroupName?: string;
  readonly srcUser: string;
  readonly srcHost: string;
  /** Destination user: the Request-URI user. */
  readonly dstUser: string;
  readonly dstHost: string;
}

export interface NumberManipulationResult {
  /** Users to send on. */
  readonly srcUser: string;
  readonly dstUser: string;
  /** Users routing should see (differ only with ManipulationPurpose routing-input-only). */
  readonly routingSrcUser: string;
  readonly routingDstUser: string;
  readonly applied: readonly NumberManipulationRow[];
}
