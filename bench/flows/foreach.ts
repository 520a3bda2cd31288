/** Bench (b): a 100-way foreach that squares each item; the join sums. */
import { FlowSpec, step, type Inputs } from "kubestep";

export class ForeachFlow extends FlowSpec {
  items: number[] = [];
  declare input: number;
  sq = 0;
  total = 0;
  @step start() { this.items = [...Array(100).keys()]; this.next(this.square, { foreach: "items" }); }
  @step square() { this.sq = this.input * this.input; this.next(this.join); }
  @step join(inputs: Inputs<ForeachFlow>) { this.total = inputs.reduce((s, i) => s + i.sq, 0); this.next(this.end); }
  @step end() { if (this.total !== 328350) throw new Error(`total = ${this.total}`); }
}
