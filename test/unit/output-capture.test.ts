import { describe, expect, it } from 'vitest';
import { OutputCapture } from '../../src/sandbox/output-capture.js';

/** 1000 bytes where every position is recognisable: A..Z repeating. */
const DATA = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(65 + (i % 26))).join(''));

function marker(dropped: number): string {
  return `\n[... ${dropped} bytes of output dropped ...]\n`;
}

function pushInChunks(capture: OutputCapture, data: Buffer, size: number): void {
  for (let at = 0; at < data.length; at += size) capture.push(data.subarray(at, at + size));
}

describe('OutputCapture', () => {
  it('keeps everything, unmarked, while the output stays under the cap', () => {
    const capture = new OutputCapture(100);
    capture.push(Buffer.from('hello '));
    capture.push(Buffer.from('world'));
    expect(capture.dropped).toBe(0);
    expect(capture.result().toString()).toBe('hello world');
  });

  it('keeps everything when the output is exactly the cap', () => {
    const capture = new OutputCapture(10);
    pushInChunks(capture, Buffer.from('0123456789'), 3);
    expect(capture.dropped).toBe(0);
    expect(capture.result().toString()).toBe('0123456789');
  });

  it('drops exactly one byte from the middle when the output is one byte over the cap', () => {
    const capture = new OutputCapture(10);
    capture.push(Buffer.from('0123456789X'));
    expect(capture.dropped).toBe(1);
    expect(capture.result().toString()).toBe(`01234${marker(1)}6789X`);
  });

  it('returns an empty buffer when nothing was written', () => {
    const capture = new OutputCapture(10);
    capture.push(Buffer.alloc(0));
    expect(capture.dropped).toBe(0);
    expect(capture.result().length).toBe(0);
  });

  it.each([1, 7, 50, 64, 333, 1000])(
    'keeps the first and last half of the cap and counts the middle exactly for %i-byte chunks',
    (size) => {
      const capture = new OutputCapture(100);
      pushInChunks(capture, DATA, size);
      expect(capture.dropped).toBe(900);
      const result = capture.result();
      expect(result.length).toBe(100 + Buffer.byteLength(marker(900)));
      expect(result.subarray(0, 50).toString()).toBe(DATA.subarray(0, 50).toString());
      expect(result.subarray(50, result.length - 50).toString()).toBe(marker(900));
      expect(result.subarray(result.length - 50).toString()).toBe(DATA.subarray(950).toString());
    },
  );

  it('gives the odd byte of an odd cap to the tail', () => {
    const capture = new OutputCapture(7);
    pushInChunks(capture, DATA.subarray(0, 26), 4);
    expect(capture.dropped).toBe(19);
    expect(capture.result().toString()).toBe(`ABC${marker(19)}WXYZ`);
  });

  it('fills the head from a chunk that straddles it and keeps the rest for the tail', () => {
    const capture = new OutputCapture(10);
    capture.push(Buffer.from('abc'));
    capture.push(Buffer.from('defghij'));
    expect(capture.dropped).toBe(0);
    expect(capture.result().toString()).toBe('abcdefghij');
    capture.push(Buffer.from('k'));
    expect(capture.dropped).toBe(1);
    expect(capture.result().toString()).toBe(`abcde${marker(1)}ghijk`);
  });

  it('keeps counting across many small pushes after the head is full', () => {
    const capture = new OutputCapture(4);
    for (const ch of 'abcdefghij') capture.push(Buffer.from(ch));
    expect(capture.dropped).toBe(6);
    expect(capture.result().toString()).toBe(`ab${marker(6)}ij`);
  });

  it('counts multibyte output in bytes, not characters', () => {
    const capture = new OutputCapture(4);
    capture.push(Buffer.from('ééé')); // 6 bytes
    expect(capture.dropped).toBe(2);
    const result = capture.result();
    expect(result.subarray(0, 2).toString()).toBe('é');
    expect(result.subarray(result.length - 2).toString()).toBe('é');
  });

  it('with a cap of zero keeps nothing but still counts all of it', () => {
    const capture = new OutputCapture(0);
    capture.push(Buffer.from('hello'));
    expect(capture.dropped).toBe(5);
    expect(capture.result().toString()).toBe(marker(5));
  });
});
