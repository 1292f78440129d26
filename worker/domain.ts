/**
 * Domain types shared by the worker and its Durable Objects. Durable Objects import these;
 * nothing here imports a Durable Object, so dependencies run one way.
 */
import type { JWK } from "jose";
import type { DeviceOs, Shell } from "./policy/targets.ts";

/** The longest text value a decision request's `context` holds (worker/decisions/request.ts; the hooks fill it too). */
export const MAX_CONTEXT_TEXT = 1024;

/** Assurance a device session can carry: how the device proved what it runs. */
export type Assurance = "software" | "tpm" | "sev-snp" | "tdx";

/** A registered device as its Durable Object keeps it. */
export interface DeviceRecord {
  id: string;
  tenant: string;
  os: DeviceOs;
  /** The shell the device's agents run commands in, when it is not the OS default (worker/policy/targets.ts `defaultShell`). */
  shell?: Shell;
  /** Public JWK (Ed25519 or P-256) the device signs nonces and DPoP proofs with. */
  publicJwk: JWK;
  /** RFC 7638 thumbprint of `publicJwk`; sessions and action tokens bind to it. */
  jkt: string;
  assurance: Assurance;
  /** Named groups (e.g. a team) a canary bundle can target. */
  groups: string[];
  /** The person who uses the device (the identity Access verifies, their e-mail): whose consents its decisions read. */
  user?: string;
  /** A quarantined device decides nothing: every decision denies (`device_quarantined`) until an admin releases it. */
  status: "active" | "disabled" | "quarantined";
  registeredAt: string;
}

/** A change of a device's standing made by an admin or a playbook, as its history keeps it. */
export interface StandingChange {
  seq: number;
  time: string;
  type: "device.quarantined" | "device.released" | "session.revoked" | "action.revoked" | "playbook.review_all" | "playbook.cleared";
  by: string;
  reason: string;
}

/** A device request as its Durable Object admits it: the DPoP proof to spend and the session it came with. */
export interface DeviceCall {
  proof: SingleUse;
  session: { id: string };
}

/** A single-use value (DPoP proof or token `jti`) with the time after which it can be forgotten. */
export interface SingleUse {
  jti: string;
  expiresAt: number;
}

/** Where an entry landed in a device's log. */
export interface AppendedEntry {
  seq: number;
  hash: string;
}
