// The QEMU harness: boot an image or a kernel with a deadline and check its serial console.
export {bootAndExpect, classifyBootImage} from './boot.js'
export {chooseAccel, forgetAccelProbe, KVM_PROBE_SECONDS} from './accel.js'
export {buildQemuArgv, directBootAppend, DEFAULT_MEMORY_MIB, type BootMedium, type QemuPlan} from './command-line.js'
export {findOvmf, OVMF_CANDIDATES, type OvmfFiles} from './firmware.js'
export {consoleText, KERNEL_PANIC_MARKER} from './serial-expect.js'
export {ConsoleSession, DEFAULT_FAIL_ON, describeStep, guestStatusOf} from './console-session.js'
export type * from './types.js'
