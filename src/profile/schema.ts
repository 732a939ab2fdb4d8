// Profile v1 schema: the truth about which keys a profile may have (DESIGN.md has the sketch).
export const PROFILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'packages', 'kernel'],
  properties: {
    name: {type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: 'name of the appliance; output files carry it'},
    sourceDateEpoch: {type: 'integer', minimum: 0, maximum: 4294967295, description: 'timestamp clamp (flag > env > this > 1)'},
    registry: {type: 'string', minLength: 1, description: 'where short package names live, e.g. docker.io/stagex'},
    mirror: {type: 'string', minLength: 1, description: 'pull from here; identity stays the registry'},
    source: {type: 'string', pattern: '^oci:.+', description: 'oci:DIR, a folder of OCI layouts, one per package'},
    trust: {
      type: 'object',
      additionalProperties: false,
      properties: {
        keyring: {type: 'string', minLength: 1},
        threshold: {type: 'integer', minimum: 1, maximum: 128},
        lookaside: {type: 'string', minLength: 1},
        legacy: {type: 'boolean'},
        policy: {type: 'string', minLength: 1},
        registriesD: {type: 'string', minLength: 1},
      },
    },
    packages: {type: 'array', minItems: 1, items: {type: 'string', minLength: 1}},
    kernel: {
      type: 'object',
      additionalProperties: false,
      required: ['package'],
      properties: {
        package: {type: 'string', minLength: 1},
        config: {type: 'string', minLength: 1},
        cmdline: {type: 'string'},
      },
    },
    boot: {
      type: 'object',
      additionalProperties: false,
      properties: {
        loader: {enum: ['syslinux', 'uki', 'none']},
        stub: {type: 'string', minLength: 1},
        packages: {type: 'array', items: {type: 'string', minLength: 1}},
        espSize: {type: 'string', pattern: '^[0-9]+(K|M|G)?$'},
        syslinuxEfi: {type: 'string', minLength: 1, description: 'path of syslinux.efi in the boot packages (default: usr/share then usr/lib syslinux/efi64)'},
        ldlinux: {type: 'string', minLength: 1, description: 'path of ldlinux.e64 in the boot packages'},
        stubPath: {type: 'string', minLength: 1, description: 'path of the EFI stub in boot.stub (default usr/lib/systemd/boot/efi/linuxx64.efi.stub)'},
      },
    },
    init: {type: 'string', pattern: '^/'},
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'contents'],
        properties: {
          path: {type: 'string', pattern: '^/.'},
          contents: {type: 'string'},
          mode: {type: 'string', pattern: '^0?[0-7]{3,4}$'},
          uid: {type: 'integer', minimum: 0},
          gid: {type: 'integer', minimum: 0},
        },
      },
    },
    prune: {enum: ['default', 'none']},
    initramfs: {
      type: 'object',
      additionalProperties: false,
      properties: {
        compression: {enum: ['gzip', 'none']},
        capabilities: {enum: ['refuse', 'drop'], description: 'file capabilities (security.capability) cannot go in a newc cpio: refuse the build, or drop them'},
      },
    },
    outputs: {
      type: 'array',
      uniqueItems: true,
      items: {enum: ['kernel', 'initramfs', 'disk', 'esp', 'uki', 'qcow2', 'rootfs-tar']},
    },
    test: {
      type: 'object',
      additionalProperties: false,
      properties: {
        timeout: {type: 'integer', minimum: 1, maximum: 3600},
        steps: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['expect'],
            properties: {expect: {type: 'string', minLength: 1}},
          },
        },
      },
    },
  },
} as const
