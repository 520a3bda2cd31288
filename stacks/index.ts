/** Pulumi entry point (Pulumi.yaml `main: stacks/`): exports the environment contract as output `kubestep`. */
import { kubestepStack } from "./program.js";

/** The `KubestepEnvironment` the runtime reads with `kubestep run flow.ts --stack <stack>`. */
export const kubestep = kubestepStack().kubestep;
