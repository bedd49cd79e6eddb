/** Keeps the first and last bytes of a stream up to a cap; counts what it drops in between. */
export class OutputCapture {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  dropped = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const headRoom = Math.floor(this.cap / 2) - this.headBytes;
    if (headRoom > 0) {
      const part = chunk.subarray(0, headRoom);
      this.head.push(part);
      this.headBytes += part.length;
      chunk = chunk.subarray(part.length);
    }
    if (chunk.length === 0) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    const tailCap = this.cap - Math.floor(this.cap / 2);
    while (this.tailBytes > tailCap) {
      const first = this.tail[0] as Buffer;
      const excess = this.tailBytes - tailCap;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  result(): Buffer {
    if (this.dropped === 0) return Buffer.concat([...this.head, ...this.tail]);
    const marker = Buffer.from(`\n[... ${this.dropped} bytes of output dropped ...]\n`);
    return Buffer.concat([...this.head, marker, ...this.tail]);
  }
}
