// verify on an appliance: the same trust stage as for a package (src/trust/stage.ts), judged at the
// appliance's manifest digest under its canonical repository, with the same table.
import {usageError} from '../errors.js'
import {canonicalRepository, parseRegistryReference} from '../oci/reference.js'
import {DEFAULT_LOOKASIDE, DEFAULT_THRESHOLD, verifyImage, type VerifyOptions, type VerifyResult} from '../pipeline/verify.js'
import {resolveLookasideUrl} from '../trust/lookaside.js'
import {trustStage} from '../trust/stage.js'
import {isAppliance, resolveAppliance} from './registry.js'

const FLAGS: Record<string, string> = {keyring: '--keyring', lookaside: '--lookaside', threshold: '--threshold'}

export async function verifyAppliance(options: VerifyOptions): Promise<VerifyResult> {
  if (options.keyrings.length === 0) throw usageError("give the signers' keyring with --keyring FILE")
  const threshold = options.threshold ?? DEFAULT_THRESHOLD
  const appliance = await resolveAppliance(options.reference, options.env)
  const identity = options.identity === undefined ? appliance.identity : canonicalRepository(parseRegistryReference(options.identity, '--identity'))
  const lookaside = resolveLookasideUrl(options.lookaside ?? DEFAULT_LOOKASIDE, options.cwd ?? process.cwd())
  const result = await trustStage(
    {settings: {threshold, lookaside, legacy: false}, keyrings: options.keyrings, locate: (field) => FLAGS[String(field.at(-1))] ?? 'verify'},
    [{name: identity.split('/').at(-1)!, identity, manifestDigest: appliance.manifestDigest}],
    {now: options.now},
  )
  if (result.mode !== 'verified') throw new Error('verify ran without a trust policy')
  const image = result.images[0]!
  return {
    reference: options.reference,
    identity,
    manifestDigest: appliance.manifestDigest,
    lookaside,
    threshold,
    distinctSigners: image.signers.length,
    signers: image.signers,
    table: image.table,
  }
}

/** A package image or an appliance, told apart by the manifest's artifactType. */
export async function verifyReference(options: VerifyOptions): Promise<VerifyResult> {
  const registry = !options.reference.startsWith('oci:')
  if (registry && (await isAppliance(options.reference, options.env))) return verifyAppliance(options)
  return verifyImage(options)
}
