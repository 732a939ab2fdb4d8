// The JUnit report of `test`: one testsuite per booted output, one testcase per step, and on a
// failure the reason with the console's last lines, so a CI page shows what the guest said.
import type {StepResult} from '../qemu/index.js'

export interface JunitRun {
  /** The output booted: disk, uki, initramfs. */
  output: string
  seconds: number
  reason: string
  steps: StepResult[]
  consoleTail: string[]
  runFolder: string | null
}

const xmlEscape = (text: string) =>
  // Characters XML 1.0 cannot carry at all (a guest may print any byte) become U+FFFD.
  text
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/gu, '\uFFFD')
    .replace(/[<>&"']/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;'})[c]!)

const seconds = (value: number | undefined) => (value ?? 0).toFixed(3)

function testcase(suite: string, run: JunitRun, step: StepResult, index: number): string {
  const head = `    <testcase classname="${xmlEscape(suite)}" name="${xmlEscape(`step ${index + 1}: ${step.step}`)}" time="${seconds(step.seconds)}">`
  const lines = [head]
  if (step.status !== undefined) lines.push(`      <properties><property name="status" value="${step.status}"/></properties>`)
  if (step.outcome === 'not-run') lines.push('      <skipped message="an earlier step did not pass"/>')
  else if (step.outcome !== 'passed') {
    const tail = run.consoleTail.join('\n') + (run.runFolder ? `\n(run folder kept: ${run.runFolder})` : '')
    lines.push(`      <failure message="${xmlEscape(step.detail ?? run.reason)}" type="${step.outcome}">${xmlEscape(tail)}</failure>`)
  }
  lines.push('    </testcase>')
  return lines.join('\n')
}

export function junitXml(profileName: string, runs: JunitRun[]): string {
  const count = (steps: StepResult[], outcomes: StepResult['outcome'][]) => steps.filter((s) => outcomes.includes(s.outcome)).length
  const all = runs.flatMap((r) => r.steps)
  const suites = runs.map((run) => {
    const name = `${profileName} ${run.output}`
    const attributes = `name="${xmlEscape(name)}" tests="${run.steps.length}" failures="${count(run.steps, ['failed', 'timeout'])}" skipped="${count(run.steps, ['not-run'])}" time="${seconds(run.seconds)}"`
    return [`  <testsuite ${attributes}>`, ...run.steps.map((step, i) => testcase(name, run, step, i)), '  </testsuite>'].join('\n')
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(profileName)}" tests="${all.length}" failures="${count(all, ['failed', 'timeout'])}" skipped="${count(all, ['not-run'])}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n')
}
