// The README's shell examples, against the real CLI (bin/run.js, as `npm link` puts it on PATH):
// every command line in a ```sh block names only npm scripts package.json has, CLI commands and flags
// their --help lists, and repository files that exist; none reaches docker.io; the cheap offline ones
// (--help, --version, check, verify from the world's layouts) run verbatim and exit 0.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CLI, REPO, runCli} from '../helpers/cli.js'

const README = readFileSync(join(REPO, 'README.md'), 'utf8')
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {scripts: Record<string, string>}
const WORLD = join(REPO, '.cache/world/oci')

export interface ExampleLine {
  /** 1-based line of the README where the command starts. */
  line: number
  /** The command as written (continuations joined), without its trailing comment. */
  text: string
  words: string[]
}

/** Shell words of `text`: quotes removed, a `#` word and what follows dropped. */
export function shellWords(text: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ''
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else if (c === '#' && word === undefined) {
      break
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== undefined) words.push(word)
  return words
}

/** Every command line of every ```sh block (a trailing backslash continues the line). */
export function exampleLines(markdown: string): ExampleLine[] {
  const lines = markdown.split('\n')
  const out: ExampleLine[] = []
  let inSh = false
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    if (/^```/.test(raw)) {
      inSh = !inSh && /^```(sh|bash|shell)\s*$/.test(raw)
      continue
    }
    if (!inSh || raw.trim() === '') continue
    const start = i
    let text = raw
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]!.trim()}`
    const words = shellWords(text)
    if (words.length === 0) continue
    // The command without its comment: everything before the first unquoted ` #`.
    const commentAt = text.search(/\s#\s/)
    out.push({line: start + 1, text: (commentAt === -1 ? text : text.slice(0, commentAt)).trim(), words})
  }
  return out
}

const helpCache = new Map<string, string>()
function helpOf(command: string | undefined): string {
  const key = command ?? ''
  if (!helpCache.has(key)) {
    const run = runCli(command ? [command, '--help'] : ['--help'])
    assert.equal(run.code, 0, `stagex-image ${key} --help: ${run.stderr}`)
    helpCache.set(key, run.stdout)
  }
  return helpCache.get(key)!
}

/** The commands `stagex-image --help` lists. */
function cliCommands(): string[] {
  const help = helpOf(undefined)
  const section = help.slice(help.indexOf('COMMANDS'))
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)\s/gm)].map((m) => m[1]!)
}

const REPO_DIRS = ['profiles', 'kernel', 'scripts', 'src', 'test', 'bin', 'bench']
const needsWorld = (path: string) => path.startsWith('.cache/world/')

/** What is wrong with one example line; empty when everything it names exists. */
function problemsOf(example: ExampleLine): string[] {
  const [program, ...rest] = example.words
  const problems: string[] = []
  if (program === 'npm') {
    const [verb, name] = rest
    if (verb === 'run') {
      if (!name || !(name in PACKAGE.scripts)) problems.push(`npm run ${name}: no such script in package.json`)
    } else if (verb === 'test') {
      if (!('test' in PACKAGE.scripts)) problems.push('npm test: no test script')
    } else if (verb !== 'link') {
      problems.push(`npm ${verb}: not a command the README should need`)
    }
    return problems
  }
  if (program !== 'stagex-image' && program !== './bin/run.js') return [`${program}: not stagex-image, ./bin/run.js or npm`]
  if (program === 'stagex-image' && rest[0] === 'npx') problems.push('npx stagex-image is a 404 outside the clone')
  const command = rest[0]?.startsWith('-') ? undefined : rest[0]
  if (command !== undefined && !cliCommands().includes(command)) problems.push(`stagex-image ${command}: no such command (stagex-image --help)`)
  const help = command === undefined || problems.length > 0 ? helpOf(undefined) : helpOf(command)
  for (const word of rest.slice(command === undefined ? 0 : 1)) {
    if (word.startsWith('--')) {
      const flag = word.split('=')[0]!
      const bare = flag.slice(2)
      if (command === undefined ? !['--help', '--version'].includes(flag) : !(help.includes(flag) || help.includes(`--[no-]${bare}`)))
        problems.push(`${flag}: not among the flags of stagex-image ${command ?? ''} --help`)
      continue
    }
    const path = word.replace(/^oci:/, '').replace(/^file:\/\//, '').replace(/:[^/]*$/, '')
    const top = path.split('/')[0]!
    if ((REPO_DIRS.includes(top) || needsWorld(path)) && !(needsWorld(path) && !existsSync(WORLD)) && !existsSync(join(REPO, path)))
      problems.push(`${word}: no such file in the clone`)
  }
  // A registry profile's packages live on docker.io unless the line says where else to get them.
  if (rest.some((w) => w.endsWith('minimal-registry.yaml')) && ['pull', 'lock', 'build', 'test'].includes(command ?? ''))
    if (!rest.some((w) => w === '--mirror' || w === '--offline' || w === '--source' || w.startsWith('--mirror=') || w.startsWith('--source=')))
      problems.push(`${command} of minimal-registry.yaml without --mirror, --source or --offline would go to docker.io`)
  return problems
}

/** Lines that are cheap and offline: run verbatim. */
function isCheap(example: ExampleLine): boolean {
  const [program, command, ...rest] = example.words
  if (program !== 'stagex-image' && program !== './bin/run.js') return false
  if (command === '--help' || command === '--version' || rest.includes('--help')) return true
  return command === 'check' || (command === 'verify' && example.text.includes('file://'))
}

describe('README: the shell examples run on a fresh clone', function () {
  this.timeout(300_000)
  const examples = exampleLines(README)

  it('finds the examples: npm scripts and stagex-image lines in ```sh blocks', () => {
    assert.ok(examples.length >= 15, `only ${examples.length} example lines`)
    assert.ok(examples.some((e) => e.text === 'npm run demo'))
    assert.ok(examples.some((e) => e.text === 'npm run registry'))
    assert.ok(examples.some((e) => e.text === 'npm link'))
    assert.doesNotMatch(README, /npx stagex-image/, 'npx stagex-image is a 404 outside the clone')
  })

  it('every line names only scripts, commands, flags and files that exist, and none goes to docker.io', () => {
    const problems = examples.flatMap((e) => problemsOf(e).map((p) => `README.md:${e.line}: ${p}\n    ${e.text}`))
    assert.deepEqual(problems, [])
  })

  it('the checker refuses what does not exist (an unknown script, command, flag, file, a docker.io pull)', () => {
    const bad = [
      'npm run no-such-script',
      'stagex-image frobnicate profiles/minimal.yaml',
      'stagex-image build profiles/minimal.yaml --no-such-flag',
      'stagex-image check profiles/no-such-profile.yaml',
      'stagex-image pull profiles/minimal-registry.yaml --to oci:carry',
    ]
    for (const text of bad) assert.notDeepEqual(problemsOf({line: 0, text, words: shellWords(text)}), [], text)
  })

  it('the cheap offline lines (--help, --version, check, verify) run verbatim with stagex-image on PATH', function () {
    if (!existsSync(WORLD)) {
      console.log('      skipping: no fixture world (.cache/world): npm run setup')
      this.skip()
    }
    // What `npm link` does: `stagex-image` on PATH is this clone's bin/run.js.
    const bin = mkdtempSync(join(tmpdir(), 'stagex-readme-bin-'))
    try {
      symlinkSync(CLI, join(bin, 'stagex-image'))
      const cheap = examples.filter(isCheap)
      assert.ok(cheap.some((e) => e.words[1] === 'check') && cheap.some((e) => e.words[1] === 'verify'), 'a check and a verify line')
      for (const example of cheap) {
        const run = spawnSync('bash', ['-c', example.text], {
          cwd: REPO,
          encoding: 'utf8',
          timeout: 120_000,
          env: {...process.env, PATH: `${bin}:${process.env.PATH}`},
        })
        assert.equal(run.status, 0, `README.md:${example.line}: ${example.text}\n${run.stdout}\n${run.stderr}`)
      }
    } finally {
      rmSync(bin, {recursive: true, force: true})
    }
  })
})
