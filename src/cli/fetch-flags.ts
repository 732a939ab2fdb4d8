// Flags shared by every command that fetches images: pull, lock, build.
import {Flags} from '@oclif/core'

export const fetchFlags = {
  store: Flags.string({description: 'content store folder [default: $XDG_CACHE_HOME/stagex-image]', helpValue: 'DIR'}),
  offline: Flags.boolean({description: 'use only the content store and local OCI layouts: no network', default: false}),
  mirror: Flags.string({
    description: "pull the profile's registry from this one (HOST[/PATH]); images keep their canonical identity",
    helpValue: 'HOST/PATH',
  }),
  source: Flags.string({description: "read the packages from a folder of OCI layouts (as `pull --to` writes), in place of the profile's source", helpValue: 'oci:DIR'}),
}

/** The pipeline options the fetch flags stand for. */
export function fetchOptionsOf(flags: {store?: string; offline: boolean; mirror?: string; source?: string}) {
  return {store: flags.store, offline: flags.offline, mirror: flags.mirror, source: flags.source}
}
