/**
 * How a sandbox backend connects its sandboxes to the egress gateway. Each route carries a key —
 * the run id, or a prepared sandbox's id until a run claims it — that the gateway judges by.
 */
export interface EgressRoutes {
  /** A Unix socket for one sandbox; the local backend bridges it into the sandbox's loopback. */
  socketFor(key: string): Promise<string>;
  /** A loopback TCP port for one sandbox that has the host's network anyway (no bubblewrap). */
  portFor(key: string): Promise<number>;
  /** Connections from `address` (a pod's IP) belong to `key`. */
  routeAddress(address: string, key: string): void;
  unrouteAddress(address: string): void;
  /** A prepared sandbox claimed by a run: what it reaches is the run's from now on. */
  rekey(from: string, to: string): void;
  /** Closes the sandbox's routes (destroyed or gone). */
  release(key: string): Promise<void>;
}

/** The variables every sandboxed command gets so its tools use the gateway. */
export function proxyEnv(url: string): Record<string, string> {
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}
