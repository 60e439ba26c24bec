/** oomkit's version, as package.json has it (test/unit/cli checks they agree). */
export const VERSION = "0.1.0";
