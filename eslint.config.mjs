// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules on every TypeScript file of the
// project; `npm run lint`, run by CI before the tests. Prettier owns formatting, so no style rule is enabled here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "**/node_modules/**", "runtime/ui/app/**", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose (a signature, a destructured-away field).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // A `let` assigned once but read earlier by a closure (a timer cleared by a callback that may run first) stays.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // `Function` is the type of a flow class object here (its constructor's signature is the user's): the
      // runtime reads its name and decorator metadata, never calls it.
      "@typescript-eslint/no-unsafe-function-type": "off",
    },
  },
);
