// reproduce REF | OUT_DIR | build.json: rebuild in a fresh work folder from the record alone (its
// recipe, its pinned input digests, its SOURCE_DATE_EPOCH), then compare every stage and output
// with the original. Identical: the stage table, and with --sign a signature of the appliance (a
// party signs what it rebuilt, as StageX maintainers do for packages). Different: exit 8.
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {type BuildComparison} from '../compare/difference.js'
import {compareBuilds, differentError, readBuildSide} from '../compare/builds.js'
import {StagexError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {build, withWorkFolder} from '../pipeline/pipeline.js'
import {RECORD_FILE} from '../pipeline/record.js'
import {restoreRecipe} from '../pipeline/recipe.js'
import {applianceManifest} from './artifact.js'
import {isLocalPath, openSide} from './sides.js'
import {type SignResult, signDigest} from './sign.js'
import {parseApplianceReference} from './registry.js'
import {canonicalRepository, DEFAULT_TAG} from '../oci/reference.js'

export interface ReproduceOptions {
  /** REF, an output folder or a build.json. */
  target: string
  /** Where the packages are when the record's came from a local folder (oci:DIR). */
  source?: string
  mirror?: string
  store?: string
  /** Replaces the record's lookaside (required when it was a local folder). */
  lookaside?: string
  /** Sign the appliance when the rebuild is identical (REF only). */
  sign?: {keyFile: string; passphraseFile?: string; lookasideDir: string}
  env?: NodeJS.ProcessEnv
  progress?: (message: string) => void
}

export interface ReproduceResult extends BuildComparison {
  target: string
  manifestDigest: Digest
  signature?: SignResult
}

export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  if (options.sign && isLocalPath(options.target)) throw usageError('--sign signs an appliance in a registry: give REF, not a folder or build.json')
  return withWorkFolder(async (work) => {
    const original = await openSide(options.target, 'original', {workDir: work, env: options.env})
    const restored = await restoreRecipe(original.record.recipe!, {
      workDir: join(work, 'recipe'),
      lookaside: options.lookaside,
      secureBootSignature: original.record.stages.uki?.signature?.pkcs7,
    })
    if (restored.localSource) {
      if (!options.source) throw usageError(`${options.target}: its packages were read from a folder on the builder's machine; give --source oci:DIR`)
      restored.profile.source = options.source.replace(/^oci:/, '')
    }
    for (const file of restored.edited) options.progress?.(`reproduce: the recipe's ${file} does not match the sha256 it records (an edited copy)`)
    // Pinned: each image at the digest its tag named then, whatever it names now.
    const pins = new Map(original.record.inputs.map((i) => [i.identity, (i.indexDigest ?? i.manifestDigest) as Digest]))
    const rebuiltDir = join(work, 'rebuilt')
    options.progress?.(`reproduce: rebuilding ${original.record.profile.name} in ${work}`)
    await build({
      profilePath: restored.profile.path,
      profile: restored.profile,
      pins,
      sourceDateEpoch: original.record.sourceDateEpoch,
      outDir: rebuiltDir,
      source: options.source,
      mirror: options.mirror,
      store: options.store,
      env: options.env,
      progress: options.progress,
    })
    const rebuilt = await readBuildSide(rebuiltDir)
    const comparison = await compareBuilds(original, rebuilt)
    if (!comparison.identical) throw differentError(options.target, 'the rebuild', comparison)
    const manifestDigest = applianceManifest(await readFile(join(rebuiltDir, RECORD_FILE)), rebuilt.record).digest
    if (original.manifestDigest && original.manifestDigest !== manifestDigest) {
      const fields = Object.keys({...original.record, ...rebuilt.record}) as (keyof typeof rebuilt.record)[]
      const differing = fields.filter((f) => JSON.stringify(original.record[f]) !== JSON.stringify(rebuilt.record[f]))
      throw new StagexError(
        'different',
        `${options.target}: every stage and output is identical, but the rebuilt build.json gives the appliance ${manifestDigest}, not ` +
          `${original.manifestDigest}: build.json differs in ${differing.join(', ') || 'its bytes only'}`,
        {firstStage: 'record', fields: differing},
      )
    }
    let signature: SignResult | undefined
    if (options.sign) {
      const ref = parseApplianceReference(options.target)
      const repository = canonicalRepository(ref)
      signature = await signDigest({...options.sign, reference: `${repository}:${ref.tag ?? DEFAULT_TAG}`, repository, manifestDigest, env: options.env})
    }
    return {...comparison, target: options.target, manifestDigest, signature}
  })
}
