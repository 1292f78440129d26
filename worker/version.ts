/** Warden's release, as package.json states it (test/unit/version.test.ts keeps them equal): OCSF events name it. */
export const WARDEN_VERSION = "0.1.0";
