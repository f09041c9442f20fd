/**
 * Writing a recording: the file (mode 0600), the header (written as soon as the server's greeting
 * says who it is), and batched appends behind the relay.
 *
 * {@link RecordingWriter.emit} serializes the event at once (the assembler reuses its arrays right
 * after emitting) and queues the line; nothing touches the file per event. A flusher writes the
 * queue every ~20 ms (on a timer, or at the next event once the timer is late), or as soon as
 * ~1 MiB is waiting, one write at a time. Every write holds
 * whole lines only, so a recording killed mid-write ends with whole lines, or with one line cut
 * short that readers drop with a warning.
 *
 * The writes are synchronous, by measurement: with asynchronous writes, a relay streaming a large
 * result keeps the event loop so busy that a write's completion waited up to 190 ms to be seen,
 * the queue grew past 100 MiB and the process to 470 MB for a 400 MB result. A synchronous write
 * of a batch is a copy into the page cache (about 0.3 ms per MiB here), so the relay pauses that
 * long every ~1 MiB of recording, and memory stays bounded by the batch size. When the disk
 * really is slower than the traffic (the kernel throttles writers), the relay slows to the disk's
 * pace rather than memory growing without bound; a slow write is reported once, loudly.
 *
 * @module
 */

import { dirname } from "node:path";
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  type HeaderEvent,
  type RecordingEvent,
  type RedactionInfo,
  type ServerInfo,
} from "./events.ts";
import { type Logger, silentLogger } from "../log.ts";

/** What the header says besides the server, known when recording starts. */
export interface HeaderFields {
  /** When recording started; every `t` counts from here. */
  created: Date;
  /** `mysql-proxy 0.1.0`. */
  tool: string;
  /** The upstream server's address (`127.0.0.1:3306`). */
  serverAddress: string;
  redaction: RedactionInfo;
}

/** Options of {@link createRecordingWriter}. */
export interface RecordingWriterOptions {
  /** The header's fields (the server part comes later, see {@link RecordingWriter.header}). */
  header: HeaderFields;
  /** Replace an existing file (default: refuse). */
  overwrite?: boolean;
  /** Create the file's directory when missing (default: refuse, naming the directory). */
  createDirectory?: boolean;
  /** Receives the high-water warning and write failures. */
  logger?: Logger;
  /** Flush at least this often (default 20 ms). */
  flushIntervalMs?: number;
  /** Flush at once when this many bytes (UTF-16 units) are queued (default 1 MiB). */
  flushBytes?: number;
  /** Warn once when a write takes longer than this: the disk holds the relay back (100 ms). */
  slowWriteMs?: number;
  /** How long after {@link RecordingWriter.armHeader} the header waits for a greeting (1000 ms). */
  headerTimeoutMs?: number;
}

/** What a writer has done. */
export interface WriterStats {
  /** The recording file. */
  path: string;
  /** Lines written (the header included). */
  lines: number;
  /** Bytes written to the file. */
  bytesWritten: number;
  /** Lines waiting to be written. */
  queuedLines: number;
  /** `open` events seen. */
  connections: number;
  /** `command` events seen (a command written in pieces counts once). */
  commands: number;
  /** The largest line, in bytes (UTF-16 units, which equal bytes for ASCII). */
  longestLine: number;
  /** Set once a write failed: nothing more is written. */
  error?: string;
}

const encoder = new TextEncoder();
const COMMAND_PREFIX = '{"type":"command",';
const MIB = 1024 * 1024;
/** Largest batch handed to one `write` (several MiB of lines is as fast as it gets). */
const MAX_BATCH = 4 * MIB;

/**
 * Creates the recording file and returns its writer. Fails with a clear message when the
 * directory is missing (unless `createDirectory`) or the file exists (unless `overwrite`).
 *
 * @example
 * ```ts ignore
 * import { createRecordingWriter } from "./writer.ts";
 * const writer = await createRecordingWriter("/tmp/x.jsonl", {
 *   header: {
 *     created: new Date(),
 *     tool: "mysql-proxy 0.1.0",
 *     serverAddress: "127.0.0.1:3306",
 *     redaction: { auth: true, sqlPasswords: true, rules: [] },
 *   },
 * });
 * writer.emit({ type: "open", conn: 1, t: 0, client: "127.0.0.1:5000" });
 * await writer.close(); // writes the header (with null server fields), then the line
 * ```
 */
export async function createRecordingWriter(
  path: string,
  options: RecordingWriterOptions,
): Promise<RecordingWriter> {
  const directory = dirname(path);
  if (options.createDirectory) {
    await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, {
      write: true,
      create: true,
      createNew: !options.overwrite,
      truncate: true,
      mode: 0o600,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AlreadyExists(
        `Cannot create the recording ${path}: the file exists (choose another name, or overwrite it)`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot create the recording ${path}: the directory ${directory} does not exist`,
      );
    }
    throw new Error(`Cannot create the recording ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    // `mode` applies only to a new file: an overwritten one keeps its old mode unless told.
    await Deno.chmod(path, 0o600);
  } catch (error) {
    file.close();
    throw new Error(`Cannot make the recording ${path} private: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return new RecordingWriter(path, file, options);
}

/**
 * Appends events to a recording file, behind the relay. Create it with
 * {@link createRecordingWriter}.
 *
 * @example
 * ```ts ignore
 * const writer = await createRecordingWriter(path, { header });
 * writer.armHeader(); // the first connection opened
 * writer.header({ ...serverFromGreeting }); // its greeting arrived
 * writer.emit(event);
 * console.log((await writer.close()).lines);
 * ```
 */
export class RecordingWriter {
  readonly path: string;
  #file: Deno.FsFile;
  #fields: HeaderFields;
  #logger: Logger;
  #interval: number;
  #flushBytes: number;
  #slowWrite: number;
  #headerTimeout: number;
  #headerWritten = false;
  #headerTimer: ReturnType<typeof setTimeout> | undefined;
  #queue: string[] = [];
  #queued = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer was armed (`performance.now()`), and events queued since. */
  #armed = 0;
  #emitsArmed = 0;
  #closing: Promise<WriterStats> | undefined;
  #warned = false;
  #error: Error | undefined;
  #stats = { lines: 0, bytesWritten: 0, connections: 0, commands: 0, longestLine: 0 };

  /** Use {@link createRecordingWriter}. */
  constructor(path: string, file: Deno.FsFile, options: RecordingWriterOptions) {
    this.path = path;
    this.#file = file;
    this.#fields = options.header;
    this.#logger = options.logger ?? silentLogger;
    this.#interval = options.flushIntervalMs ?? 20;
    this.#flushBytes = options.flushBytes ?? MIB;
    this.#slowWrite = options.slowWriteMs ?? 100;
    this.#headerTimeout = options.headerTimeoutMs ?? 1000;
  }

  /** Whether the header line has been queued. */
  get headerWritten(): boolean {
    return this.#headerWritten;
  }

  /** Bytes (UTF-16 units) waiting to be written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Starts the wait for a greeting, if the header is not written yet: after `headerTimeoutMs`
   * the header is written with null server fields (a server that answers with an ERR, or a
   * client that never gets a greeting), so the events behind it are not held forever.
   */
  armHeader(): void {
    if (this.#headerWritten || this.#headerTimer !== undefined || this.#closing) return;
    this.#headerTimer = setTimeout(() => {
      this.#headerTimer = undefined;
      this.header();
    }, this.#headerTimeout);
  }

  /**
   * Writes the header line now (once; later calls do nothing), ahead of every event emitted so
   * far. `server` is what the first greeting said; omitted fields are null.
   */
  header(server: Partial<Omit<ServerInfo, "address">> = {}): void {
    if (this.#headerWritten) return;
    this.#headerWritten = true;
    if (this.#headerTimer !== undefined) clearTimeout(this.#headerTimer);
    this.#headerTimer = undefined;
    const header: HeaderEvent = {
      type: "header",
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      created: this.#fields.created.toISOString(),
      tool: this.#fields.tool,
      server: {
        address: this.#fields.serverAddress,
        version: server.version ?? null,
        capabilities: server.capabilities ?? null,
        mariadbCapabilities: server.mariadbCapabilities ?? null,
        characterSet: server.characterSet ?? null,
        statusFlags: server.statusFlags ?? null,
        authPlugin: server.authPlugin ?? null,
      },
      redaction: this.#fields.redaction,
    };
    this.#queue.unshift(this.#line(header));
    this.#schedule();
  }

  /**
   * Queues one event. It is serialized now: the caller may change the event's objects as soon
   * as this returns. When a batch's worth is queued it is written before this returns (see the
   * module's note). Never throws for I/O: a failed write is logged, and later events dropped.
   */
  emit(event: RecordingEvent): void {
    if (this.#error) return;
    if (event.type === "command") this.#stats.commands++;
    else if (event.type === "open") this.#stats.connections++;
    this.#queue.push(this.#line(event));
    this.#schedule();
  }

  /** Takes whole lines off the queue, up to a batch's worth, as bytes. */
  #batch(): { bytes: Uint8Array; count: number } {
    let size = 0;
    let count = 0;
    while (count < this.#queue.length && (count === 0 || size < MAX_BATCH)) {
      size += this.#queue[count++].length;
    }
    const lines = this.#queue.splice(0, count);
    this.#queued -= size;
    return { bytes: encoder.encode(lines.length === 1 ? lines[0] : lines.join("")), count };
  }

  /** Writes everything queued so far (once the header is written). */
  flush(): Promise<void> {
    this.#write();
    return Promise.resolve();
  }

  /**
   * Writes the header if it never was, then everything queued, syncs the file to disk and
   * closes it. Resolves to the final stats; rejects when a write failed (the file then holds
   * what was written before the failure). Calling it again returns the same result.
   */
  close(): Promise<WriterStats> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** What was written so far. */
  stats(): WriterStats {
    const stats: WriterStats = { path: this.path, ...this.#stats, queuedLines: this.#queue.length };
    if (this.#error) stats.error = this.#error.message;
    return stats;
  }

  async #close(): Promise<WriterStats> {
    this.header();
    try {
      this.#write();
      if (!this.#error) await this.#file.sync();
    } catch (error) {
      this.#error ??= error as Error;
    } finally {
      if (this.#headerTimer !== undefined) clearTimeout(this.#headerTimer);
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      try {
        this.#file.close();
      } catch {
        // already closed
      }
    }
    if (this.#error) {
      throw new Error(`Cannot write the recording ${this.path}: ${this.#error.message}`, {
        cause: this.#error,
      });
    }
    return this.stats();
  }

  #line(event: HeaderEvent | RecordingEvent): string {
    let json = JSON.stringify(event);
    // Command lines, most of a recording, go without their `type`: `cmd` says what they are.
    if (json.startsWith(COMMAND_PREFIX)) json = "{" + json.slice(COMMAND_PREFIX.length);
    const line = json + "\n";
    this.#queued += line.length;
    if (line.length > this.#stats.longestLine) this.#stats.longestLine = line.length;
    return line;
  }

  /**
   * Writes now when a batch's worth is queued, or when the timer is overdue, else makes sure the
   * timer will. Overdue: a thread too busy to run its timers (events keep coming, each in its
   * own task ahead of them) still writes every interval, so a kill loses that much at most.
   */
  #schedule(): void {
    if (!this.#headerWritten || this.#error || this.#queue.length === 0) return;
    if (this.#queued >= this.#flushBytes) this.#write();
    else if (this.#timer === undefined) {
      this.#armed = performance.now();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#write();
      }, this.#interval);
    } else if (
      (++this.#emitsArmed & 63) === 0 && performance.now() - this.#armed > this.#interval
    ) {
      // The clock is read every 64 events: reading it costs more than queueing one.
      this.#write();
    }
  }

  /** Writes the whole queue, in batches of whole lines. */
  #write(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#headerWritten || this.#error) return;
    try {
      while (this.#queue.length > 0) {
        const { bytes, count } = this.#batch();
        const started = performance.now();
        let written = 0;
        while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
        this.#stats.lines += count;
        this.#stats.bytesWritten += bytes.length;
        const ms = performance.now() - started;
        if (ms > this.#slowWrite && !this.#warned) this.#warnSlow(bytes.length, ms);
      }
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #warnSlow(bytes: number, ms: number): void {
    this.#warned = true;
    this.#logger.log(
      "warn",
      "recording-slow",
      `Writing the recording ${this.path} is slow (${(bytes / MIB).toFixed(1)} MiB took ${
        Math.round(ms)
      } ms): the disk is slower than the traffic, and relaying ` +
        `slows to its pace so that memory stays bounded`,
      { bytes, ms: Math.round(ms) },
    );
  }

  #fail(error: Error): void {
    this.#error = error;
    this.#queue = [];
    this.#queued = 0;
    this.#logger.log(
      "error",
      "recording-failed",
      `Cannot write the recording ${this.path}: ${error.message}; recording stopped, relaying goes on`,
    );
  }
}
