// Media types of the two families we read: OCI and Docker v2 schema 2.
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

export const indexMediaTypes: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList]
export const manifestMediaTypes: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest]
export const configMediaTypes: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig]

export type LayerCompression = 'gzip' | 'none'

/** How a layer is compressed, from its media type; null when we cannot apply it. */
export function layerCompression(mediaType: string): LayerCompression | null {
  switch (mediaType) {
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
      return 'gzip'
    case MediaType.ociLayer:
      return 'none'
    default:
      return null
  }
}
