/** The README's example: a foreach that squares numbers and a join that sums them. */
import { FlowSpec, step, param, current, type Inputs } from "kubestep";

export class HelloFlow extends FlowSpec {
  @param({ default: 3, help: "how many items" }) n!: number;
  items: number[] = [];
  declare input: number;
  sq = 0;
  total = 0;

  @step start() {
    this.items = [...Array(this.n).keys()];
    console.log(`run ${current.runId}: squaring ${this.items.length} numbers`);
    this.next(this.square, { foreach: "items" });
  }
  @step square() {
    this.sq = this.input * this.input;
    this.next(this.join);
  }
  @step join(inputs: Inputs<HelloFlow>) {
    this.total = inputs.reduce((s, i) => s + i.sq, 0);
    this.next(this.end);
  }
  @step end() {
    console.log(`total = ${this.total}`);
  }
}
