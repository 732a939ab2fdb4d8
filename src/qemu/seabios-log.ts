// SeaBIOS writes its messages to QEMU's debug console (I/O port 0x402), not to the serial port we
// read: "Booting from DVD/CD...", "Boot failed: ...", "No bootable device.". QEMU puts that port in a
// file in the run folder; this follows the file while QEMU runs, so that a BIOS with nothing to boot
// ends the run at once, saying what it tried, instead of waiting for the deadline (SeaBIOS retries
// after 60 s).
import {open, type FileHandle} from 'node:fs/promises'

/** I/O port of QEMU's isa-debugcon device where SeaBIOS writes its log. */
export const SEABIOS_DEBUG_PORT = 0x402

const POLL_MS = 200
/** SeaBIOS's last word when every boot device failed. */
const GAVE_UP = /No bootable device/
/** What it tried on the way, for the reason. */
const ATTEMPT = /^(Booting from .*|Boot failed: .*)$/

export interface SeabiosGaveUp {
  /** The attempts and the final line, e.g. "Booting from Hard Disk...; Boot failed: not a bootable disk; No bootable device." */
  summary: string
  line: string
}

/** Follows the log until stop(); calls onGaveUp once when SeaBIOS says it found nothing to boot. */
export function followSeabiosLog(path: string, onGaveUp: (gaveUp: SeabiosGaveUp) => void): {stop: () => Promise<void>} {
  let handle: FileHandle | undefined
  let offset = 0
  let carry = ''
  const attempts: string[] = []
  let done = false
  let busy: Promise<void> = Promise.resolve()
  const buffer = Buffer.alloc(64 * 1024)
  const poll = async () => {
    handle ??= await open(path, 'r').catch(() => undefined)
    if (!handle) return
    for (;;) {
      const {bytesRead} = await handle.read(buffer, 0, buffer.length, offset)
      if (bytesRead === 0) break
      offset += bytesRead
      const lines = (carry + buffer.subarray(0, bytesRead).toString('latin1')).split(/\r?\n/)
      carry = lines.pop() ?? ''
      for (const raw of lines) {
        const line = raw.trim()
        if (ATTEMPT.test(line)) attempts.push(line)
        if (!done && GAVE_UP.test(line)) {
          done = true
          onGaveUp({summary: [...attempts.slice(-6), line].join('; '), line})
        }
      }
    }
  }
  const timer = setInterval(() => {
    busy = busy.then(poll).catch(() => undefined)
  }, POLL_MS)
  return {
    stop: async () => {
      clearInterval(timer)
      await busy
      await handle?.close()
    },
  }
}
