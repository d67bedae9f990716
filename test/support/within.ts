/** Waiting with a bound: no test can hang on an event that never comes. */

/** `promise`, or a rejection naming `what` after `ms`. */
export async function within<T>(promise: PromiseLike<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
