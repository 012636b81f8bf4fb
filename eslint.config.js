// Lint for edge/ and test/ (`make lint`, part of `make test`): typescript-eslint
// with type information (projectService reads tsconfig.json), so the promise
// rules see which calls return promises.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["dist/**", "out/**", "node_modules/**", "training/**", ".venv/**", "runs/**", "reports/**", "models/**", "data/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // The rules the runtime's correctness depends on: a dropped promise is a
      // lost error (an unhandled rejection kills Node), and a promise passed
      // where a void callback is expected (EventEmitter handlers, setTimeout)
      // is never awaited by the caller.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      // Prefixed with _ : deliberately unused (interface-shaped callbacks).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // Template literals with numbers are how the logs and errors are written.
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      // Left out of the recommended sets, on purpose:
      // - require-await: an async method without await is how an implementation
      //   of a Promise-returning interface (sources, fakes) turns a synchronous
      //   throw into a rejection; the rule pushes toward the opposite.
      "@typescript-eslint/require-await": "off",
      // - no-control-regex: the MQTT topic and OTA config validators match NUL
      //   and other control characters to refuse them; that is the point.
      "no-control-regex": "off",
    },
  },
  {
    // Tests: vitest's expect(...).rejects and vi.fn mocks hand out `any`-typed
    // values by design; the unsafe-* rules would flag every assertion on them.
    // no-explicit-any stays an error: a test writes its own types or unknown.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
  {
    // Plain JS (this file, test fixtures run by node) and vitest.config.ts are
    // outside tsconfig.json: linted without type information.
    files: ["**/*.js", "**/*.mjs", "vitest.config.ts"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly" } },
  },
);
