/** Kubernetes benchmarks: a trivial @kubernetes step, and an N-way @kubernetes foreach (N = BENCH_N, default 20). */
import { FlowSpec, step, kubernetes, type Inputs } from "kubestep";

const pod = { cpu: 0.1, memory: 200, disk: 100, secrets: ["kubestep-s3"] };

export class TrivialK8sFlow extends FlowSpec {
  x = 0;
  @step start() { this.next(this.trivial); }
  @kubernetes(pod)
  @step trivial() { this.x = 1; this.next(this.end); }
  @step end() {}
}

export class ForeachK8sFlow extends FlowSpec {
  items: number[] = [];
  declare input: number;
  sq = 0;
  total = 0;
  expected = 0;
  @step start() {
    this.items = [...Array(Number(process.env.BENCH_N) || 20).keys()];
    this.expected = this.items.reduce((s, i) => s + i * i, 0);
    this.next(this.square, { foreach: "items" });
  }
  @kubernetes(pod)
  @step square() { this.sq = this.input * this.input; this.next(this.join); }
  @step join(inputs: Inputs<ForeachK8sFlow>) {
    this.total = inputs.reduce((s, i) => s + i.sq, 0);
    this.expected = inputs[0]!.expected;
    this.next(this.end);
  }
  @step end() { if (this.total !== this.expected) throw new Error(`total ${this.total}, expected ${this.expected}`); }
}
