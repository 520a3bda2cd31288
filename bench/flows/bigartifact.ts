/** Bench (c): a 200 MB random-bytes artifact written in one step and length-checked in the next. */
import { FlowSpec, step } from "kubestep";
import { randomFillSync } from "node:crypto";

export class BigArtifactFlow extends FlowSpec {
  blob: Buffer = Buffer.alloc(0);
  @step start() { this.blob = randomFillSync(Buffer.allocUnsafe(200 * 1024 * 1024)); this.next(this.check); }
  @step check() { if (this.blob.length !== 200 * 1024 * 1024) throw new Error(`length ${this.blob.length}`); this.next(this.end); }
  @step end() {}
}
