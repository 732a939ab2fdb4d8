// Reading part of a file by offset, for the inspectors: an async range read, and a synchronous
// random-access reader for the pure readers that take one (iso9660-reader's readIsoRecords).
import {closeSync, openSync, readSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {badInputError, StagexError, usageError} from '../errors.js'

/** The first `bytes` of a file (fewer when it is shorter) and its size; a path that is no readable file is a usage error. */
export async function readFileHead(path: string, bytes: number): Promise<{head: Buffer; size: number}> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`${path}: cannot read it (${error.code ?? error.message})`)
  })
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw usageError(`${path}: not a file`)
    const head = Buffer.alloc(Math.min(stat.size, bytes))
    await handle.read(head, 0, head.length, 0)
    return {head, size: stat.size}
  } finally {
    await handle.close()
  }
}

/** Bytes [at, at + length) of `path`; a file that ends sooner is bad input. */
export async function readFileRange(path: string, at: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(length)
    let done = 0
    while (done < length) {
      const {bytesRead} = await handle.read(buffer, done, length - done, at + done)
      if (bytesRead === 0) throw badInputError(`${path}: cut short at byte ${at + done}`)
      done += bytesRead
    }
    return buffer
  } finally {
    await handle.close()
  }
}

export interface FileReader {
  size: number
  /** Up to `length` bytes from `at` (fewer past the end of the file). */
  read(at: number, length: number): Uint8Array
  close(): void
}

/** A synchronous reader over an open file of `size` bytes. */
export function openFileReader(path: string, size: number): FileReader {
  const fd = openSync(path, 'r')
  return {
    size,
    read(at, length) {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - at)))
      let done = 0
      while (done < buffer.length) {
        const n = readSync(fd, buffer, done, buffer.length - done, at + done)
        if (n === 0) break
        done += n
      }
      return buffer.subarray(0, done)
    },
    close: () => closeSync(fd),
  }
}

/** What a reader makes of a file: its own error (a StagexError: exit 4) is given the file's name. */
export async function readingFile<T>(path: string, read: () => T | Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof StagexError) throw badInputError(`${path}: ${error.message}`)
    throw error
  }
}
