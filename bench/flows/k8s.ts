/** Kubernetes benchmarks: a trivial @kubernetes step, and a 20-way @kubernetes foreach. */
import { FlowSpec, step, kubernetes, type Inputs } from "kubestep";

const pod = { cpu: 0.1, memory: 200, disk: 100, secrets: ["kubestep-s3"] };

export class TrivialK8sFlow extends FlowSpec {
  x = 0;
  @step start() { this.next(this.trivial); }
  @kubernetes(pod)
  @step trivial() { this.x = 1; this.next(this.end); }
  @step end() {}
}

export class Foreach20K8sFlow extends FlowSpec {
  items: number[] = [];
  declare input: number;
  sq = 0;
  total = 0;
  @step start() { this.items = [...Array(20).keys()]; this.next(this.square, { foreach: "items" }); }
  @kubernetes(pod)
  @step square() { this.sq = this.input * this.input; this.next(this.join); }
  @step join(inputs: Inputs<Foreach20K8sFlow>) { this.total = inputs.reduce((s, i) => s + i.sq, 0); this.next(this.end); }
  @step end() { if (this.total !== 2470) throw new Error(`total ${this.total}`); }
}
