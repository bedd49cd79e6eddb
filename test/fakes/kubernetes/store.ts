// The etcd stand-in: objects by resource/namespace/name, one global resourceVersion counter,
// and a bounded history of changes for watches to resume from (older ones are "compacted").
import { deepCopy, type KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface StoreEvent {
  rv: number;
  type: EventType;
  resource: string;
  namespace: string;
  object: KubeObject;
  previous?: KubeObject;
}

export class ObjectStore {
  private counter = 1000;
  private compactedThrough = 0;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly historySize: number) {}

  get resourceVersion(): string {
    return String(this.counter);
  }

  /** The stored object (treat as read-only: every write stores a fresh copy). */
  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(`${resource}/${namespace}/${name}`);
  }

  list(resource: string, namespace?: string): KubeObject[] {
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(`${resource}/`) && (!namespace || o.metadata.namespace === namespace))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, o]) => o);
  }

  create(resource: string, obj: KubeObject): KubeObject {
    return this.write('ADDED', resource, obj);
  }

  update(resource: string, obj: KubeObject): KubeObject {
    return this.write('MODIFIED', resource, obj);
  }

  delete(resource: string, namespace: string, name: string): KubeObject | undefined {
    const key = `${resource}/${namespace}/${name}`;
    const old = this.objects.get(key);
    if (!old) return undefined;
    const gone = deepCopy(old);
    gone.metadata.resourceVersion = String(++this.counter);
    this.objects.delete(key);
    this.emit({ rv: this.counter, type: 'DELETED', resource, namespace, object: gone, previous: old });
    return gone;
  }

  /** Events after `rv` for a resource, or undefined when history before them was compacted away. */
  since(resource: string, rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedThrough) return undefined;
    return this.history.filter((e) => e.rv > rv && e.resource === resource);
  }

  /** The oldest resourceVersion a watch may still resume from. */
  get oldestResumable(): number {
    return this.compactedThrough;
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private write(type: EventType, resource: string, obj: KubeObject): KubeObject {
    const stored = deepCopy(obj);
    const { namespace = '', name } = stored.metadata;
    const key = `${resource}/${namespace}/${name}`;
    const previous = this.objects.get(key);
    stored.metadata.resourceVersion = String(++this.counter);
    this.objects.set(key, stored);
    this.emit({
      rv: this.counter,
      type,
      resource,
      namespace,
      object: stored,
      ...(previous ? { previous } : {}),
    });
    return stored;
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    while (this.history.length > this.historySize)
      this.compactedThrough = (this.history.shift() as StoreEvent).rv;
    for (const fn of this.listeners) fn(e);
  }
}
