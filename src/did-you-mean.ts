// "Did you mean ...?": the nearest valid name to a mistyped one (a profile field, an enum value, a
// command), offered only when it is close enough that the guess is likely right.

/**
 * Edit distance with adjacent transpositions (optimal string alignment): "biuld" is one edit from
 * "build", as a person counts it, where plain Levenshtein counts two.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({length: rows}, (_, i) => Array.from({length: cols}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i < rows; i++)
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  return d[a.length]![b.length]!
}

/** Edits a name of this length may be away and still be a likely typo: 1 up to 4 letters, 2 up to 8, then 3. */
const allowedEdits = (length: number) => (length <= 4 ? 1 : length <= 8 ? 2 : 3)

/**
 * The candidate nearest to `word` (case-insensitive), or undefined when none is within the allowed
 * edits, or when two candidates are equally near (a guess between them would mislead).
 */
export function nearestName(word: string, candidates: Iterable<string>): string | undefined {
  const typed = word.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  let tied = false
  for (const candidate of new Set(candidates)) {
    const distance = editDistance(typed, candidate.toLowerCase())
    if (distance < bestDistance) [best, bestDistance, tied] = [candidate, distance, false]
    else if (distance === bestDistance) tied = true
  }
  if (best === undefined || tied || best === word || bestDistance > allowedEdits(Math.max(typed.length, best.length))) return undefined
  return best
}

/** `did you mean "packages"?`, or undefined when no name is near. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const nearest = nearestName(word, candidates)
  return nearest === undefined ? undefined : `did you mean "${nearest}"?`
}
