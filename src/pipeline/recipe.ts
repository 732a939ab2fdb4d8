// The recipe: what a build needs besides its pinned input images, carried in build.json so that a
// build can be repeated from the record alone. The parsed profile, with every host path replaced:
// the local files it references travel as bytes (the kernel fragment, each files: source, a source
// folder file by file, the trust keyring); a local package folder or file:// lookaside is marked
// "local", and the rebuilder names its own (--source, --lookaside). No host path, no time: the same
// profile and files give the same recipe on every machine.
import {createHash} from 'node:crypto'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {badInputError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import type {Profile} from '../profile/types.js'

export const RECIPE_SCHEMA = 'stagex-image/recipe/v1'

export interface RecipeFile {
  /** The profile field that names it: "kernel.config", "files[2].source", "trust.keyring". */
  field: string
  /** Path below a source folder, "/"-separated; "" for the file itself. */
  path: string
  size: number
  sha256: string
  /** The bytes, base64. */
  contents: string
}

/** A host path in the recipe: carried as recipe files, or local to the builder's machine. */
export type RecipePath = {recipe: string} | {local: true}

/** The parsed profile as plain data, host paths replaced (see RecipePath). */
export type RecipeProfile = Record<string, unknown>

export interface Recipe {
  schema: typeof RECIPE_SCHEMA
  profile: RecipeProfile
  files: RecipeFile[]
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** The files below a source folder, by "/"-separated path in byte order (or the source itself). */
async function filesOf(source: string): Promise<{path: string; bytes: Buffer}[]> {
  const entries = await readdir(source, {withFileTypes: true}).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOTDIR') return undefined
    throw error
  })
  if (!entries) return [{path: '', bytes: await readFile(source)}]
  const out: {path: string; bytes: Buffer}[] = []
  for (const entry of entries.sort((a, b) => byBytes(a.name, b.name))) {
    const below = join(source, entry.name)
    if (entry.isDirectory()) out.push(...(await filesOf(below)).map((f) => ({path: `${entry.name}/${f.path}`.replace(/\/$/, ''), bytes: f.bytes})))
    else if (entry.isFile()) out.push({path: entry.name, bytes: await readFile(below)})
  }
  return out
}

/** The carried files a profile references, field by field. */
function carriedFiles(profile: Profile): {field: string; host: string}[] {
  const out: {field: string; host: string}[] = []
  if (profile.kernel?.config) out.push({field: 'kernel.config', host: profile.kernel.config})
  profile.files.forEach((f, i) => f.source !== undefined && out.push({field: `files[${i}].source`, host: f.source}))
  if (profile.trust?.keyring) out.push({field: 'trust.keyring', host: profile.trust.keyring})
  // The certificate is public and the rebuild checks the recorded signature against it; the key is never carried.
  if (profile.boot.secureBoot) out.push({field: 'boot.secureBoot.cert', host: profile.boot.secureBoot.cert})
  return out
}

/** The profile as data: no functions, no paths of this machine. */
function recipeProfile(profile: Profile): RecipeProfile {
  const {path: _path, displayName: _name, dir: _dir, locate: _locate, relativePath: _relative, ...data} = profile
  const copy = JSON.parse(JSON.stringify(data)) as RecipeProfile & {
    source?: unknown
    kernel?: {config?: unknown}
    files: {source?: unknown}[]
    trust?: Record<string, unknown>
    boot: {secureBoot?: Record<string, unknown>}
  }
  if (copy.source !== undefined) copy.source = {local: true}
  // The private key and where its passphrase comes from stay with their owner: a rebuild attaches the
  // recorded signature instead (secure-boot.ts). The same two fields whether or not the key was at hand.
  if (copy.boot.secureBoot) copy.boot.secureBoot = {key: {local: true}, cert: {recipe: 'boot.secureBoot.cert'}}
  if (copy.kernel?.config !== undefined) copy.kernel.config = {recipe: 'kernel.config'}
  copy.files.forEach((f, i) => f.source !== undefined && (f.source = {recipe: `files[${i}].source`}))
  if (copy.trust) {
    if (copy.trust.keyring !== undefined) copy.trust.keyring = {recipe: 'trust.keyring'}
    if (typeof copy.trust.lookaside === 'string' && copy.trust.lookaside.startsWith('file:')) copy.trust.lookaside = {local: true}
    for (const field of ['policy', 'registriesD']) if (copy.trust[field] !== undefined) copy.trust[field] = {local: true}
  }
  return copy
}

export async function makeRecipe(profile: Profile): Promise<Recipe> {
  const files: RecipeFile[] = []
  for (const {field, host} of carriedFiles(profile))
    for (const f of await filesOf(host)) files.push({field, path: f.path, size: f.bytes.length, sha256: sha256(f.bytes), contents: f.bytes.toString('base64')})
  return {schema: RECIPE_SCHEMA, profile: recipeProfile(profile), files}
}

export interface RestoreOptions {
  /** Where the rebuild writes the recipe's files. */
  workDir: string
  /** Replaces a local lookaside (and may replace any). */
  lookaside?: string
  /** The record's stages.uki.signature.pkcs7: what a rebuild of a Secure Boot profile attaches (it has no key). */
  secureBootSignature?: string
}

export interface RestoredRecipe {
  profile: Profile
  /** Files whose bytes no longer match the sha256 the recipe recorded (an edited copy). */
  edited: string[]
  /** The record's packages came from a local folder: the rebuild needs --source. */
  localSource: boolean
}

/** The recipe's files written below `workDir`; field -> the path that stands for it now. */
async function writeRecipeFiles(files: RecipeFile[], workDir: string): Promise<{placed: Map<string, string>; edited: string[]}> {
  const placed = new Map<string, string>()
  const edited: string[] = []
  for (const file of files) {
    if (typeof file.path !== 'string' || file.path.startsWith('/') || file.path.split('/').some((p) => p === '..' || p === '.'))
      throw badInputError(`recipe: ${file.field}: unsafe path ${JSON.stringify(file.path)}`)
    const root = placed.get(file.field) ?? join(workDir, 'recipe-files', String(placed.size))
    placed.set(file.field, root)
    const bytes = Buffer.from(file.contents, 'base64')
    if (sha256(bytes) !== file.sha256) edited.push(`${file.field}${file.path ? `/${file.path}` : ''}`)
    const target = file.path === '' ? root : join(root, file.path)
    await mkdir(dirname(target), {recursive: true})
    await writeFile(target, bytes)
  }
  return {placed, edited}
}

/** The profile a recipe describes, its carried files written below workDir and named by it. */
export async function restoreRecipe(recipe: Recipe, options: RestoreOptions): Promise<RestoredRecipe> {
  if (recipe?.schema !== RECIPE_SCHEMA || typeof recipe.profile !== 'object' || !Array.isArray(recipe.files))
    throw badInputError(`the build record carries no recipe (${RECIPE_SCHEMA}): it was made by an older stagex-image, or edited`)
  const {placed, edited} = await writeRecipeFiles(recipe.files, options.workDir)
  const data = JSON.parse(JSON.stringify(recipe.profile)) as Record<string, any>
  const pathOf = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined
    const ref = value as RecipePath
    if ('recipe' in ref) return placed.get(ref.recipe) ?? join(options.workDir, 'recipe-files', 'empty') // an empty folder carries no file
    throw usageError(`the recipe's ${field} was a path on the builder's machine; give your own`)
  }
  // No key (the recipe never has one): the build attaches the record's signature once it checked it (secure-boot.ts).
  if (data.boot?.secureBoot)
    data.boot.secureBoot = {cert: pathOf(data.boot.secureBoot.cert, 'boot.secureBoot.cert'), signature: options.secureBootSignature}
  const localSource = data.source !== undefined
  // Kept in its place (key order is part of the recipe's bytes); the rebuilder sets it (--source).
  data.source = undefined
  if (data.kernel) data.kernel.config = pathOf(data.kernel.config, 'kernel.config')
  for (const [i, f] of (data.files as {source?: unknown}[]).entries()) if (f.source !== undefined) f.source = pathOf(f.source, `files[${i}].source`)
  if (data.trust) {
    data.trust.keyring = pathOf(data.trust.keyring, 'trust.keyring')
    if (options.lookaside) data.trust.lookaside = options.lookaside
    else if (typeof data.trust.lookaside === 'object') throw usageError("the record's trust.lookaside was a folder on the builder's machine: give --lookaside URL")
    for (const field of ['policy', 'registriesD']) if (data.trust[field] !== undefined) pathOf(data.trust[field], `trust.${field}`)
  }
  const path = join(options.workDir, `${data.name}.yaml`)
  const displayName = `the recipe of ${data.name}`
  const profile = {
    ...data,
    sha256: data.sha256 as Digest,
    path,
    displayName,
    dir: options.workDir,
    locate: (fieldPath: readonly (string | number)[]) => (fieldPath.length > 0 ? `${displayName} (${fieldPath.join('.')})` : displayName),
    relativePath: (p: string) => p,
  } as unknown as Profile
  return {profile, edited, localSource}
}
