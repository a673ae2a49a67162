import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "web/dist/", "examples/", ".paved/", ".device/", "coverage/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: "configuration is parsed once in src/config; take values from Config instead",
        },
      ],
    },
  },
  {
    files: ["src/config/**", "src/cli/**", "web/vite.config.ts", "test/**", "bench/**", "bin/**", "**/*.test.ts", "scripts/**"],
    rules: { "no-restricted-syntax": "off" },
  },
);
