/** Long tool output reaches the model as head + tail; the store keeps all of it. */
export function headTail(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const half = Math.floor(maxChars / 2);
  const dropped = text.length - 2 * half;
  return `${text.slice(0, half)}\n\n[... ${dropped} characters cut; the full output is in the run's record ...]\n\n${text.slice(-half)}`;
}
