/** Handlers of the program table, by family (see programs.ts for the rows). */
export * from "./text.ts";
export * from "./files.ts";
export * from "./network.ts";
export * from "./git.ts";
export * from "./packages.ts";
export * from "./code.ts";
export * from "./wrappers.ts";
export * from "./windows.ts";
export * from "./cmdlets.ts";
