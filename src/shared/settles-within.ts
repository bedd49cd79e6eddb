/**
 * Waits for `work` to settle (fulfilled or rejected), for no longer than `ms`; true when it
 * settled in time. The timer is cleared either way, so a bounded wait never holds a process open.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(settled, settled), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

const settled = () => true as const;
