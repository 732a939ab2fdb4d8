// Bounded parallelism with ordered results.

/** Runs `work` over `items`, at most `limit` at once; the first failure stops new work and is thrown once the rest settled. */
export async function runLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  let failure: {error: unknown} | undefined
  async function worker() {
    while (!failure && next < items.length) {
      const index = next++
      try {
        results[index] = await work(items[index]!, index)
      } catch (error) {
        failure ??= {error}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  if (failure) throw failure.error
  return results
}
