// Cutting the serial console into lines. Patterns are tried on whole lines only: QEMU hands the
// console over in pieces of any size, and a pattern tried on a piece (`$` at the piece's end) can
// pass on half a line. A partial line is offered only once the guest has been quiet for a moment
// (a prompt with no newline), and then marked partial, so that `$` cannot match at its end.
// Pure: text in, lines out; the caller owns the clock.

/** A line longer than this is cut and offered in pieces, so no line makes matching unbounded. */
export const MAX_LINE_CHARS = 8192

export interface ConsoleLine {
  text: string
  /** True when the line has not ended yet (offered after a quiet moment). */
  partial: boolean
}

export class ConsoleLineSplitter {
  private pending = ''
  /** How much of `pending` was already offered as a partial line. */
  private offered = 0

  /** Complete lines in `text` (without their `\n`); the rest waits for more text or a quiet moment. */
  feed(text: string): ConsoleLine[] {
    const lines: ConsoleLine[] = []
    this.pending += text
    for (;;) {
      const end = this.pending.indexOf('\n')
      if (end === -1 && this.pending.length <= MAX_LINE_CHARS) break
      const cut = end === -1 ? MAX_LINE_CHARS : end
      lines.push({text: this.pending.slice(0, cut), partial: false})
      this.pending = this.pending.slice(end === -1 ? cut : cut + 1)
      this.offered = 0
    }
    return lines
  }

  /** The unfinished line, once per new text since it was last offered; undefined when there is none. */
  quietPartial(): ConsoleLine | undefined {
    if (this.pending.length === 0 || this.pending.length === this.offered) return undefined
    this.offered = this.pending.length
    return {text: this.pending, partial: true}
  }

  /** The unfinished line as it stands (for the console tail), without offering it. */
  get unfinished(): string {
    return this.pending
  }
}
