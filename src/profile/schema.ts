// Profile v1 schema: the truth about which keys a profile may have (DESIGN.md has the sketch).
export const PROFILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  // No kernel: a root tree only (rootfs, pull, lock, check); build refuses the outputs that need one.
  required: ['name', 'packages'],
  $defs: {
    mode: {type: 'string', pattern: '^0?[0-7]{3,4}$'},
    // 2^32-1 is (uid_t)-1, "no id" to chown(2) and setuid(2): never a real owner.
    id: {type: 'integer', minimum: 0, maximum: 4294967294},
    // POSIX portable user names (3.437): [A-Za-z0-9._-], not starting with "-"; not all digits (ids and names would mix); 32 bytes as shadow's useradd.
    account: {type: 'string', pattern: '^(?![0-9]+$)[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$'},
    // A passwd field: absolute, and no ":" or newline that would split the line.
    passwdPath: {type: 'string', pattern: '^/[^:\\n]*$'},
  },
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
        isolinuxBin: {type: 'string', minLength: 1, description: 'iso output: path of isolinux.bin in the boot packages (default: usr/share/syslinux, usr/lib/syslinux/bios, Debian\'s usr/lib/ISOLINUX)'},
        ldlinuxC32: {type: 'string', minLength: 1, description: 'iso output: path of the BIOS ldlinux.c32 in the boot packages'},
        isohdpfxBin: {type: 'string', minLength: 1, description: 'iso output: path of isohdpfx.bin (the isohybrid MBR code) in the boot packages'},
        stub: {type: 'string', minLength: 1},
        packages: {type: 'array', items: {type: 'string', minLength: 1}},
        espSize: {type: 'string', pattern: '^[0-9]+(K|M|G)?$'},
        syslinuxEfi: {type: 'string', minLength: 1, description: 'path of syslinux.efi in the boot packages (default: usr/share then usr/lib syslinux/efi64)'},
        ldlinux: {type: 'string', minLength: 1, description: 'path of ldlinux.e64 in the boot packages'},
        stubPath: {type: 'string', minLength: 1, description: 'path of the EFI stub in boot.stub (default usr/lib/systemd/boot/efi/linuxx64.efi.stub)'},
        secureBoot: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'cert'],
          description: 'sign the UKI (loader uki) with Authenticode for UEFI Secure Boot',
          properties: {
            key: {type: 'string', minLength: 1, description: 'PEM private key (RSA), relative to the profile; may be passphrase-protected'},
            cert: {type: 'string', minLength: 1, description: 'PEM X.509 certificate of the key (the one enrolled in db), relative to the profile'},
            passphraseFile: {type: 'string', minLength: 1, description: "a file holding the key's passphrase, relative to the profile"},
            passphraseEnv: {type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: "an environment variable holding the key's passphrase"},
          },
        },
      },
    },
    init: {type: 'string', pattern: '^/'},
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        // Bytes come from exactly one place: inline, or a host file or folder.
        oneOf: [
          {required: ['contents'], properties: {contents: true}},
          {required: ['source'], properties: {source: true}},
        ],
        properties: {
          path: {type: 'string', pattern: '^/.'},
          contents: {type: 'string'},
          source: {type: 'string', minLength: 1, description: 'a host file or folder (relative to the profile\'s folder, or absolute) copied in instead of contents'},
          mode: {$ref: '#/$defs/mode', description: 'mode of the file(s) (default 0644)'},
          dirMode: {$ref: '#/$defs/mode', description: 'mode of the folders made from a source folder (default 0755)'},
          uid: {$ref: '#/$defs/id'},
          gid: {$ref: '#/$defs/id'},
        },
      },
    },
    dirs: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path: {type: 'string', pattern: '^/.'},
          mode: {$ref: '#/$defs/mode', description: 'default 0755'},
          uid: {$ref: '#/$defs/id'},
          gid: {$ref: '#/$defs/id'},
        },
      },
    },
    symlinks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'target'],
        properties: {
          path: {type: 'string', pattern: '^/.'},
          target: {type: 'string', minLength: 1, pattern: '^[^\\u0000]+$'},
        },
      },
    },
    users: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'uid'],
        properties: {
          name: {$ref: '#/$defs/account'},
          uid: {$ref: '#/$defs/id'},
          gid: {$ref: '#/$defs/id', description: 'primary group (default: the uid)'},
          home: {$ref: '#/$defs/passwdPath', description: 'default /home/NAME (/root for uid 0)'},
          shell: {$ref: '#/$defs/passwdPath', description: 'default /bin/sh'},
        },
      },
    },
    groups: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'gid'],
        properties: {
          name: {$ref: '#/$defs/account'},
          gid: {$ref: '#/$defs/id'},
          members: {type: 'array', uniqueItems: true, items: {$ref: '#/$defs/account'}},
        },
      },
    },
    keep: {type: 'array', items: {type: 'string', pattern: '^/.'}, description: 'paths the pruning must keep (each is recorded)'},
    allowMissing: {type: 'array', items: {type: 'string', minLength: 1}, description: 'ELF closure exceptions: libraries allowed to be missing'},
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
      items: {enum: ['kernel', 'initramfs', 'disk', 'esp', 'uki', 'qcow2', 'rootfs-tar', 'eif', 'iso']},
    },
    // The iso output: BIOS (isolinux) always, UEFI (the ESP inside) unless uefi is false.
    iso: {
      type: 'object',
      additionalProperties: false,
      properties: {
        uefi: {type: 'boolean', description: 'false: a BIOS-only ISO, without the ESP and its UEFI entries (then any boot.loader will do); default true, which needs boot.loader uki'},
      },
    },
    // The eif output (AWS Nitro Enclaves): the header's defaults, the enclave's command line, the ramdisks.
    eif: {
      type: 'object',
      additionalProperties: false,
      properties: {
        memory: {type: 'string', pattern: '^[0-9]+(K|M|G)?$', description: 'default enclave memory in the EIF header (default 1G)'},
        cpus: {type: 'integer', minimum: 1, maximum: 1024, description: 'default enclave CPU count in the EIF header (default 2)'},
        cmdline: {type: 'string', description: 'the enclave kernel command line (default: the Nitro one, console=ttyS0 included)'},
        ramdisks: {enum: ['single', 'nitro'], description: 'single: one uncompressed newc ramdisk holding the whole tree; nitro: nitro-cli\'s bootstrap (/init, /nsm.ko) and customer (/rootfs, /cmd, /env) ramdisks'},
        bootstrap: {
          type: 'object',
          additionalProperties: false,
          description: 'ramdisks nitro: where boot.packages hold the enclave init and the NSM module',
          properties: {
            init: {type: 'string', minLength: 1, description: 'default usr/share/nitro_enclaves/blobs/init'},
            nsm: {type: 'string', minLength: 1, description: 'default usr/share/nitro_enclaves/blobs/nsm.ko'},
          },
        },
        cmd: {type: 'array', items: {type: 'string', pattern: '^[^\\n]*$'}, description: 'ramdisks nitro: /cmd, one argument a line (default: the profile\'s init)'},
        env: {type: 'array', items: {type: 'string', pattern: '^[^=\\n]+=[^\\n]*$'}, description: 'ramdisks nitro: /env, NAME=value a line'},
      },
    },
    test: {
      type: 'object',
      additionalProperties: false,
      properties: {
        timeout: {type: 'integer', minimum: 1, maximum: 3600},
        steps: {
          type: 'array',
          items: {
            oneOf: [
              {
                type: 'object',
                additionalProperties: false,
                required: ['expect'],
                properties: {
                  expect: {type: 'string', minLength: 1, description: 'a regular expression tried on each whole console line'},
                  timeout: {type: 'number', exclusiveMinimum: 0, maximum: 3600, description: "seconds from the step's start (default: the run's deadline)"},
                },
              },
              {type: 'object', additionalProperties: false, required: ['send'], properties: {send: {type: 'string', description: 'a line typed on the serial console'}}},
              {
                type: 'object',
                additionalProperties: false,
                required: ['expect-exit'],
                properties: {
                  'expect-exit': {
                    oneOf: [{type: 'integer', minimum: 0, maximum: 127}, {const: true}],
                    description: 'the guest powers off; with a number, the status it reports through isa-debug-exit (README)',
                  },
                },
              },
            ],
          },
        },
        'fail-on': {
          type: 'array',
          items: {type: 'string', minLength: 1},
          description: 'console patterns that fail the run at once (default: Kernel panic, Oops, BUG:, Attempted to kill init)',
        },
      },
    },
  },
} as const
