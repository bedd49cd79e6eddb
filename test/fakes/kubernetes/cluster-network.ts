// The cluster network as manifests/ makes it, the way a CNI enforcing its NetworkPolicies would:
// a pod has no network but its own loopback, and one route out, to airlock's egress gateway, that
// arrives from the pod's own IP. Without a gateway, pods get the 10.244.0.x addresses they always
// had and no route at all.
//
// bwrap cannot make a process join an existing network namespace, so each process of a pod (its
// main command and every exec) has a namespace of its own. Each therefore starts under a small
// forwarder, airlock's own egress bridge (src/sandbox/local/egress-bridge.ts), that listens on the
// pod-loopback 127.0.0.1:3128 and carries each connection to a Unix socket bound in from the node;
// the node's side connects to the gateway from the pod's IP, a 127.1.x.y address (all of 127/8 is
// the host's loopback on Linux), so the gateway sees each pod as its own source address.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBridge } from '../../../src/sandbox/local/egress-bridge.js';
import type { ContainerView } from './container-runtime.js';

/** Where a pod's commands find the gateway: the pod-loopback address its proxy URL names. */
export const POD_GATEWAY_PORT = 3128;
export const POD_PROXY_URL = `http://127.0.0.1:${POD_GATEWAY_PORT}`;

/** Inside every process of a pod with a route: the forwarder, node to run it, the node's socket. */
const CNI_DIR = '/run/fake-cni';
const CNI_NODE = `${CNI_DIR}/node`;
const CNI_BRIDGE = `${CNI_DIR}/bridge.mjs`;
const CNI_SOCKET = `${CNI_DIR}/gateway.sock`;

export interface GatewayAddress {
  host: string;
  port: number;
}

interface Attachment {
  ip: string;
  socket: string;
  server: Server;
  conns: Set<Socket>;
}

export class ClusterNetwork {
  private next = 10;
  private readonly attached = new Map<string, Attachment>();
  /** Short, for Unix socket paths (108 bytes at most): the bridge program and one socket per pod. */
  private dir?: string;
  private bridge?: string;

  constructor(private readonly gateway?: GatewayAddress) {}

  /** The pod's IP, once its route (if any) is up. Unique per pod while the stand-in runs. */
  async attach(key: string): Promise<string> {
    const n = this.next++;
    if (!this.gateway) return `10.244.0.${n % 250}`;
    const ip = `127.1.${(n >> 8) & 255}.${n & 255}`;
    this.dir ??= mkdtempSync(join(tmpdir(), 'kcni-'));
    this.bridge ??= writeBridge(this.dir);
    const socket = join(this.dir, `${n}.sock`);
    const gateway = this.gateway;
    const conns = new Set<Socket>();
    const server = createServer({ allowHalfOpen: true }, (pod) => {
      const out = connect({ host: gateway.host, port: gateway.port, localAddress: ip, allowHalfOpen: true });
      for (const s of [pod, out]) {
        conns.add(s);
        s.on('close', () => conns.delete(s));
      }
      pod.on('error', () => out.destroy());
      out.on('error', () => pod.destroy());
      pod.pipe(out);
      out.pipe(pod);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, resolve);
    });
    this.attached.set(key, { ip, socket, server, conns });
    return ip;
  }

  /** A process of the pod: with a route, started under the forwarder, which sees the node's socket. */
  wrap(key: string, view: ContainerView, command: string[]): { view: ContainerView; command: string[] } {
    const a = this.attached.get(key);
    if (!a || !this.bridge) return { view, command };
    const mounts = [
      ...view.mounts,
      { hostPath: process.execPath, mountPath: CNI_NODE, readOnly: true },
      { hostPath: this.bridge, mountPath: CNI_BRIDGE, readOnly: true },
      { hostPath: a.socket, mountPath: CNI_SOCKET, readOnly: false },
    ];
    return {
      view: { ...view, mounts },
      command: [CNI_NODE, CNI_BRIDGE, String(POD_GATEWAY_PORT), CNI_SOCKET, ...command],
    };
  }

  /** The pod's network is torn down: its route closes, and so does every connection through it. */
  detach(key: string): void {
    const a = this.attached.get(key);
    if (!a) return;
    this.attached.delete(key);
    a.server.close();
    for (const s of a.conns) s.destroy();
  }

  close(): void {
    for (const key of [...this.attached.keys()]) this.detach(key);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
