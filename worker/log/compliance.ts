/**
 * The compliance package's mapping document: which files of the package evidence which
 * control of the frameworks an auditor asks about. Generated from the package's own records
 * (the server writes it, `warden audit verify-package` regenerates it and compares), so it can
 * only name what the package holds, and names as absent what the deployment does not keep.
 *
 * One row per control, with the kinds of evidence it rests on and why.
 */

/** What a package can hold, each in its files (`file` of every record). */
export type EvidenceKind =
  | "devices"
  | "checkpoints"
  | "attestations"
  | "reviews"
  | "policy_bundles"
  | "bundle_admin_log"
  | "consents"
  | "agent_registry"
  | "quarantine_history"
  | "revocation_history"
  | "siem_event_counts";

export interface Control {
  framework: "SOC 2" | "ISO/IEC 27001:2022 Annex A" | "EU AI Act" | "NIST AI RMF";
  id: string;
  title: string;
  evidence: readonly EvidenceKind[];
  /** Why these files evidence the control. */
  reason: string;
}

export const CONTROLS: readonly Control[] = [
  {
    framework: "SOC 2",
    id: "CC6",
    title: "Logical and physical access controls",
    evidence: ["policy_bundles", "devices", "attestations", "reviews", "consents", "agent_registry"],
    reason: "who may act is the signed policy text; each device's key, assurance and attestation appraisals; privileged actions approved by passkey; agents and their consents",
  },
  {
    framework: "SOC 2",
    id: "CC7",
    title: "System operations: detection and monitoring of anomalies and incidents",
    evidence: ["checkpoints", "attestations", "quarantine_history", "revocation_history", "siem_event_counts"],
    reason: "signed, witnessed device logs; refused attestations; quarantines, revocations and the events sent to the SIEM",
  },
  {
    framework: "SOC 2",
    id: "CC8",
    title: "Change management",
    evidence: ["policy_bundles", "bundle_admin_log", "reviews"],
    reason: "every bundle version as signed by its publisher, its activation, canary, rollback and refusal records, and the human approvals of held actions",
  },
  {
    framework: "ISO/IEC 27001:2022 Annex A",
    id: "5.15",
    title: "Access control",
    evidence: ["policy_bundles", "devices", "reviews", "consents", "agent_registry"],
    reason: "the access rules (policy text) and who they were applied to, with approvals and consents",
  },
  {
    framework: "ISO/IEC 27001:2022 Annex A",
    id: "8.15",
    title: "Logging",
    evidence: ["checkpoints", "bundle_admin_log", "attestations", "reviews"],
    reason: "hash-chained logs whose checkpoints are signed (and cosigned by witnesses), with entries proven into them",
  },
  {
    framework: "ISO/IEC 27001:2022 Annex A",
    id: "8.16",
    title: "Monitoring activities",
    evidence: ["attestations", "checkpoints", "quarantine_history", "siem_event_counts"],
    reason: "device state appraised at every session, the audit trail, quarantines and SIEM events",
  },
  {
    framework: "ISO/IEC 27001:2022 Annex A",
    id: "8.32",
    title: "Change management",
    evidence: ["policy_bundles", "bundle_admin_log"],
    reason: "signed bundle versions and the record of each activation and rollback",
  },
  {
    framework: "EU AI Act",
    id: "Art. 12",
    title: "Record-keeping",
    evidence: ["checkpoints", "devices", "bundle_admin_log", "attestations", "reviews"],
    reason: "automatic, tamper-evident logs of every decision of every agent's device over its lifetime",
  },
  {
    framework: "EU AI Act",
    id: "Art. 14",
    title: "Human oversight",
    evidence: ["reviews", "policy_bundles", "quarantine_history"],
    reason: "held actions decided by named reviewers with passkey assertions; the policy naming what is held; quarantines",
  },
  {
    framework: "NIST AI RMF",
    id: "MEASURE",
    title: "Measure: risks are analysed, assessed and tracked",
    evidence: ["attestations", "checkpoints", "siem_event_counts"],
    reason: "appraisals of device state, the decision trail, event counts",
  },
  {
    framework: "NIST AI RMF",
    id: "MANAGE",
    title: "Manage: risks are prioritised and acted upon",
    evidence: ["reviews", "policy_bundles", "bundle_admin_log", "quarantine_history", "revocation_history", "consents"],
    reason: "human decisions on held actions, policy changes and rollbacks, quarantines, revocations and consents",
  },
];

export interface MappingControl {
  id: string;
  title: string;
  /** The package files that evidence the control, sorted. */
  files: string[];
  /** Evidence the control rests on that this deployment does not keep (yet). */
  absent: EvidenceKind[];
}

export interface ComplianceMapping {
  frameworks: { framework: Control["framework"]; controls: MappingControl[] }[];
}

/**
 * The mapping for a package whose records put `files` (by kind) in it, on a deployment that
 * does not keep `absent` kinds. Deterministic: the verifier regenerates it byte for byte.
 */
export function complianceMapping(files: ReadonlyMap<EvidenceKind, readonly string[]>, absent: readonly EvidenceKind[]): ComplianceMapping {
  const frameworks: ComplianceMapping["frameworks"] = [];
  for (const control of CONTROLS) {
    let framework = frameworks.find((f) => f.framework === control.framework);
    if (!framework) {
      framework = { framework: control.framework, controls: [] };
      frameworks.push(framework);
    }
    const named = new Set<string>();
    for (const kind of control.evidence) for (const file of files.get(kind) ?? []) named.add(file);
    framework.controls.push({ id: control.id, title: control.title, files: [...named].sort(), absent: control.evidence.filter((kind) => absent.includes(kind)) });
  }
  return { frameworks };
}
