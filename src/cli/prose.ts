// Help text is written as wrapped paragraphs in the source; oclif wraps again to the terminal's
// width, so single line breaks inside a paragraph are joined first. Blank lines, list items and
// indented lines keep their breaks.
export function prose(text: string): string {
  return text.replace(/([^\n])\n(?![\n\s-])/g, '$1 ')
}
