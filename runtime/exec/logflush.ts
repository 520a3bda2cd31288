/**
 * Live logs of a running attempt: the lines an attempt prints are buffered and stored as append-only chunks
 * (`<attempt>/log.live/<seq>`) every `intervalMs` or whenever `maxBytes` are buffered, so `kubestep logs` and
 * `kubestep ui` show a running task's output. Each chunk is a new small object (nothing is rewritten, which
 * keeps object stores cheap); the orchestrator archives the whole log at attempt end as before and then
 * removes the chunks.
 */

/** Options of {@link LogChunkFlusher}. */
export interface LogChunkFlusherOptions {
  /** Stores chunk number `seq` (0, 1, 2, ...). */
  write: (seq: number, text: string) => Promise<void>;
  /** Longest time a line waits before it is stored (ms). Default 2000. */
  intervalMs?: number;
  /** A chunk is stored as soon as this many bytes are buffered. Default 256 KiB. */
  maxBytes?: number;
  /** Called once with the first failed write (later chunks are still tried). */
  onError?: (error: Error) => void;
}

/** Buffers an attempt's lines and stores them as numbered chunks, in order, one write at a time. */
export class LogChunkFlusher {
  private buffer: string[] = [];
  private bytes = 0;
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private reported = false;
  private readonly maxBytes: number;

  constructor(private readonly o: LogChunkFlusherOptions) {
    this.maxBytes = o.maxBytes ?? 256 * 1024;
    this.timer = setInterval(() => void this.flush(), o.intervalMs ?? 2000);
    this.timer.unref();
  }

  /** Adds one line (without its newline). */
  push(line: string): void {
    if (this.closed) return;
    this.buffer.push(line + "\n");
    this.bytes += Buffer.byteLength(line) + 1;
    if (this.bytes >= this.maxBytes) void this.flush();
  }

  /** Stores what is buffered as the next chunk; resolves when every chunk so far is stored. */
  flush(): Promise<void> {
    if (this.buffer.length) {
      const text = this.buffer.join("");
      const seq = this.seq++;
      this.buffer = [];
      this.bytes = 0;
      this.chain = this.chain.then(() =>
        this.o.write(seq, text).catch((e: Error) => {
          if (!this.reported) {
            this.reported = true;
            this.o.onError?.(e);
          }
        }),
      );
    }
    return this.chain;
  }

  /**
   * Stops the timer and resolves once every chunk is stored. The rest still buffered is stored too, unless
   * `flushRest` is false (the attempt ended and its whole log is archived next: a short attempt then stores no chunk).
   */
  async close(options: { flushRest?: boolean } = {}): Promise<void> {
    clearInterval(this.timer);
    if (options.flushRest === false) {
      this.buffer = [];
      this.bytes = 0;
    }
    this.closed = true;
    await this.flush();
  }

  /** Number of chunks stored or being stored. */
  get chunks(): number {
    return this.seq;
  }
}
