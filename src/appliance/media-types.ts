// Our own media types: an appliance is an OCI image manifest whose artifactType says what it is,
// whose config is the build record and whose layers are the outputs, each typed by its kind.
export const APPLIANCE_ARTIFACT_TYPE = 'application/vnd.stagex-image.appliance.v1'
export const BUILD_RECORD_MEDIA_TYPE = 'application/vnd.stagex-image.build-record.v1+json'
const OUTPUT_PREFIX = 'application/vnd.stagex-image.output.'

/** `application/vnd.stagex-image.output.initramfs.v1`: one per output kind of build.json. */
export const outputMediaType = (kind: string) => `${OUTPUT_PREFIX}${kind}.v1`

/** The output kind a layer media type names, or undefined when it is not one of ours. */
export function outputKindOf(mediaType: string): string | undefined {
  const match = /^application\/vnd\.stagex-image\.output\.([a-z0-9-]+)\.v1$/.exec(mediaType)
  return match?.[1]
}

export const TITLE_ANNOTATION = 'org.opencontainers.image.title'
export const CREATED_ANNOTATION = 'org.opencontainers.image.created'
