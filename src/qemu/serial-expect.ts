// Console text as the harness reads it: firmware's escape sequences and control characters removed.
// Matching itself is line-based and lives in console-session.ts (whole lines, patterns in a worker).

export const KERNEL_PANIC_MARKER = 'Kernel panic - not syncing'

/**
 * Firmware and boot loaders paint the screen with escape sequences (SeaBIOS and OVMF clear it);
 * on a terminal they would wipe the user's scrollback, and in a regex they get in the way.
 * Removes CSI/OSC/other ESC sequences, carriage returns and C0 controls except newline and tab.
 */
export function consoleText(raw: string): string {
  return raw
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b[ -/]*[0-~]/g, '')
    .replace(/\x1b/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
}
