/** Bench (a): a linear 5-step flow with small artifacts (an int and a 1 KB string per step). */
import { FlowSpec, step } from "kubestep";

export class LinearFlow extends FlowSpec {
  i = 0;
  s = "";
  @step start() { this.i = 1; this.s = "x".repeat(1024); this.next(this.b); }
  @step b() { this.i += 1; this.s = "b".repeat(1024); this.next(this.c); }
  @step c() {
    this.i += 1;
    this.s = "c".repeat(1024);
    if (process.env.BENCH_FAIL_C) throw new Error("failing on purpose for the resume benchmark");
    this.next(this.d);
  }
  @step d() { this.i += 1; this.s = "d".repeat(1024); this.next(this.end); }
  @step end() { this.i += 1; if (this.i !== 5) throw new Error(`i = ${this.i}`); }
}
