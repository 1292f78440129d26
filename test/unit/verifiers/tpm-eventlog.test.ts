import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../../worker/verifiers/reader.ts";
import { TPM_ALG } from "../../../worker/verifiers/tpm/constants.ts";
import { appraiseEventLog, tpmReference } from "../../../worker/verifiers/tpm/appraise.ts";
import { parseEventLog, type EventLog, type TcgEvent } from "../../../worker/verifiers/tpm/eventlog.ts";
import { replayEventLog, type ReplayBank } from "../../../worker/verifiers/tpm/eventlog-replay.ts";
import { EV, EVENT_TYPES } from "../../../worker/verifiers/tpm/eventlog-types.ts";
import { codeOf } from "./codes.ts";
import { eventLogCases, type EventLogCase, type PcrBanks } from "./eventlog-fixtures.ts";

const ALG = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384 } as const;

function banksOf(pcrs: PcrBanks, only?: readonly number[]): ReplayBank[] {
  return Object.entries(pcrs).map(([label, values]) => ({
    alg: ALG[label as keyof typeof ALG],
    pcrs: new Map(Object.entries(values).filter(([index]) => !only || only.includes(Number(index))).map(([index, hex]) => [Number(index), fromHex(hex)])),
  }));
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}

/** The log's bytes again from its events: the header event as it was, every other event re-encoded. */
function encode(original: Uint8Array, log: EventLog, events: readonly TcgEvent[]): Uint8Array {
  const parts: Uint8Array[] = [];
  if (log.format === "crypto-agile") {
    const headerSize = 32 + new DataView(original.buffer, original.byteOffset).getUint32(28, true);
    parts.push(original.subarray(0, headerSize));
  }
  for (const event of events) {
    parts.push(u32(event.pcr), u32(event.type));
    if (log.format === "sha1") parts.push(event.digests.get(TPM_ALG.SHA1) as Uint8Array);
    else {
      parts.push(u32(event.digests.size));
      for (const [alg, digest] of event.digests) parts.push(Uint8Array.of(alg & 0xff, alg >> 8), digest);
    }
    parts.push(u32(event.data.length), event.data);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Replays `bytes` against the case's PCR values; the error code or "ok". */
function replayCode(c: EventLogCase, bytes: Uint8Array) {
  return codeOf(() => replayEventLog(parseEventLog(bytes), banksOf(c.pcrs)));
}

function edited(c: EventLogCase, edit: (events: TcgEvent[]) => TcgEvent[]): Uint8Array {
  const log = parseEventLog(c.log);
  return encode(c.log, log, edit([...log.events]));
}

/** The first event matching `test`, and its position. */
function find(events: readonly TcgEvent[], test: (event: TcgEvent) => boolean): [TcgEvent, number] {
  const at = events.findIndex(test);
  if (at < 0) throw new Error("no such event in the fixture");
  return [events[at] as TcgEvent, at];
}

describe("TCG event logs: real logs replay to the PCRs their TPM held", () => {
  for (const c of eventLogCases) {
    it(`${c.name}: parses, replays every bank and PCR recorded, and states its facts`, async () => {
      const log = parseEventLog(c.log);
      expect(log.format).toBe(c.format);
      const replayed = await replayEventLog(log, banksOf(c.pcrs));
      expect(replayed.compared.map((b) => b.bank).sort()).toEqual(Object.keys(c.pcrs).sort());
      expect(replayed.facts.secureBoot).toBe(c.secureBoot);
      expect(replayed.facts.separators).toEqual(c.separators);
      expect(replayed.facts.separatorErrors).toEqual([]);
      for (const key of ["pk", "kek", "db", "dbx"] as const) {
        if (c.secureBoot) expect(replayed.facts[key]).toMatch(/^[0-9a-f]{64}$/);
      }
      // The source's own parser found these EFI applications; the facts agree, in the bank PCR 4 was compared in.
      const bank = replayed.compared[0]!.bank as "sha1" | "sha256";
      const apps = c.efiApps[bank];
      if (apps) {
        expect(replayed.facts.bootApplications).toEqual(apps);
        expect(replayed.facts.bootManager).toBe(apps[0]);
        expect(replayed.facts.kernel).toBe(apps.length > 1 ? apps.at(-1) : null);
      }
    });
  }

  it("the crypto-agile logs also carry SHA-384 digests, which replay without a quote to compare against", async () => {
    const log = parseEventLog(eventLogCases[1]!.log);
    expect(log.banks.map((b) => b.alg)).toEqual([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384]);
  });

  it("facts come only from PCRs that were compared: events of PCRs outside the quote prove nothing (CVE-2022-0317)", async () => {
    const c = eventLogCases[1]!;
    const replayed = await replayEventLog(parseEventLog(c.log), banksOf({ sha256: c.pcrs.sha256 }, [0, 1, 2, 3]));
    expect(replayed.facts).toMatchObject({ secureBoot: null, pk: null, db: null, bootManager: null, kernel: null, bootApplications: [], separators: [0, 1, 2, 3] });
    expect(replayed.unverifiedPcrs).toEqual([4, 5, 6, 7, 8, 9, 14]);
  });

  it("a PCR the log never extends must still hold its reset value", async () => {
    const c = eventLogCases[2]!;
    const zero = { sha256: { ...c.pcrs.sha256, "10": "00".repeat(32) } };
    expect(await codeOf(() => replayEventLog(parseEventLog(c.log), banksOf(zero)))).toBe("ok");
    const claimed = { sha256: { ...c.pcrs.sha256, "10": "11".repeat(32) } };
    expect(await codeOf(() => replayEventLog(parseEventLog(c.log), banksOf(claimed)))).toBe("event_log_replay_mismatch");
  });

  it("a bank the log does not carry cannot be replayed", async () => {
    const c = eventLogCases[0]!;
    expect(await codeOf(() => replayEventLog(parseEventLog(c.log), [{ alg: TPM_ALG.SHA256, pcrs: new Map([[0, new Uint8Array(32)]]) }]))).toBe("event_log_replay_mismatch");
  });
});

describe("TCG event logs: tampering", () => {
  for (const c of eventLogCases) {
    it(`${c.name}: one digest changed (a boot application's, replayed only) is a replay mismatch`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
        const digests = new Map([...event.digests].map(([alg, d]) => [alg, Uint8Array.from(d, (b, i) => (i === 0 ? b ^ 1 : b))]));
        events[at] = { ...event, digests };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe("event_log_replay_mismatch");
    });

    it(`${c.name}: one digest changed on an event whose digest is its data's hash is a digest mismatch`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.type === EV.SEPARATOR);
        events[at] = { ...event, digests: new Map([...event.digests].map(([alg, d]) => [alg, new Uint8Array(d.length)])) };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe("event_log_digest_mismatch");
    });

    it(`${c.name}: data changed under a data-hash digest (the SecureBoot variable) is a digest mismatch`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.pcr === 7 && e.type === EV.EFI_VARIABLE_DRIVER_CONFIG);
        events[at] = { ...event, data: Uint8Array.from(event.data, (b, i) => (i === event.data.length - 1 ? b ^ 1 : b)) };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe("event_log_digest_mismatch");
    });

    it(`${c.name}: one event removed is a replay mismatch`, async () => {
      const bytes = edited(c, (events) => {
        const [, at] = find(events, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
        return events.filter((_, i) => i !== at);
      });
      expect(await replayCode(c, bytes)).toBe("event_log_replay_mismatch");
    });

    it(`${c.name}: an extended event relabelled EV_NO_ACTION (hidden from replay) is refused`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
        events[at] = { ...event, type: EV.NO_ACTION };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe("event_log_event_not_allowed");
    });

    it(`${c.name}: an event relabelled with a type the profile does not define is refused`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.pcr === 4);
        events[at] = { ...event, type: 0x7fff0000 };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe("event_log_event_not_allowed");
    });
  }

  // Driven from the table: an opaque event (a boot application: its digest is no hash of its data)
  // relabelled to every type the table knows.
  const c = eventLogCases[1]!;
  for (const [type, row] of EVENT_TYPES) {
    const expected =
      row.rule === "forbidden" || row.rule === "no-action"
        ? "event_log_event_not_allowed"
        : row.rule === "opaque"
          ? "ok"
          : type === EV.SEPARATOR
            ? "malformed_evidence"
            : "event_log_digest_mismatch";
    it(`relabelled ${row.name} (${row.rule}): ${expected}`, async () => {
      const bytes = edited(c, (events) => {
        const [event, at] = find(events, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
        events[at] = { ...event, type };
        return events;
      });
      expect(await replayCode(c, bytes)).toBe(expected);
    });
  }

  it("a second measurement of one Secure Boot variable is refused: the fact would be ambiguous", async () => {
    const bytes = edited(c, (events) => {
      const [event, at] = find(events, (e) => e.pcr === 7 && e.type === EV.EFI_VARIABLE_DRIVER_CONFIG);
      return [...events.slice(0, at + 1), event, ...events.slice(at + 1)];
    });
    const log = parseEventLog(bytes);
    // Compare PCR 7 with what the doctored log replays to: the refusal is about the fact, not the replay.
    let pcr7: Uint8Array = new Uint8Array(32);
    for (const event of log.events) {
      if (event.pcr !== 7 || event.type === EV.NO_ACTION) continue;
      const joined = new Uint8Array(64);
      joined.set(pcr7);
      joined.set(event.digests.get(TPM_ALG.SHA256) as Uint8Array, 32);
      pcr7 = new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
    }
    expect(toHex(pcr7)).not.toBe(c.pcrs.sha256!["7"]);
    expect(await codeOf(() => replayEventLog(log, [{ alg: TPM_ALG.SHA256, pcrs: new Map([[7, pcr7]]) }]))).toBe("event_log_event_not_allowed");
  });
});

describe("TCG event logs: structure", () => {
  const c = eventLogCases[1]!;
  const q = eventLogCases[0]!;

  it("a log cut anywhere inside an event is truncated", async () => {
    for (const cut of [10, 40, 200, c.log.length - 1, c.log.length - 30]) {
      expect(await codeOf(() => parseEventLog(c.log.subarray(0, cut)))).toBe("evidence_truncated");
    }
    for (const cut of [3, 27, q.log.length - 5]) expect(await codeOf(() => parseEventLog(q.log.subarray(0, cut)))).toBe("evidence_truncated");
  });

  it("an event size past the end is truncated (go-attestation's 3 GB event)", async () => {
    const bytes = c.log.slice();
    const headerSize = 32 + new DataView(bytes.buffer).getUint32(28, true);
    // Second event: pcr, type, count (3) and three digests (2+20, 2+32, 2+48), then eventSize.
    new DataView(bytes.buffer).setUint32(headerSize + 12 + 22 + 34 + 50, 0xbdbfef47, true);
    expect(await codeOf(() => parseEventLog(bytes))).toBe("evidence_truncated");
  });

  it("an event with another digest count than the banks the Spec ID event declares is malformed", async () => {
    const bytes = c.log.slice();
    const headerSize = 32 + new DataView(bytes.buffer).getUint32(28, true);
    new DataView(bytes.buffer).setUint32(headerSize + 8, 2, true);
    expect(await codeOf(() => parseEventLog(bytes))).toBe("malformed_evidence");
  });

  it("a Spec ID event declaring a digest size that is not its algorithm's is malformed", async () => {
    const bytes = c.log.slice();
    // TCG_EfiSpecIDEvent: signature 16, class 4, versions 3, uintnSize 1, count 4, then {alg, size}: the first size.
    new DataView(bytes.buffer).setUint16(32 + 28 + 2, 32, true);
    expect(await codeOf(() => parseEventLog(bytes))).toBe("malformed_evidence");
  });

  it("a PCR index above 23 is malformed", async () => {
    const bytes = q.log.slice();
    new DataView(bytes.buffer).setUint32(0, 24, true);
    expect(await codeOf(() => parseEventLog(bytes))).toBe("malformed_evidence");
  });

  it("a log larger than 1 MiB is refused before parsing", async () => {
    expect(await codeOf(() => parseEventLog(new Uint8Array(1024 * 1024 + 1)))).toBe("malformed_evidence");
  });
});

describe("TCG event logs: appraisal of the facts", () => {
  const manifest = (eventLog: object) => tpmReference({ pcr_bank: "sha256", pcrs: [0, 4, 7], reference: {}, event_log: eventLog });

  it("holds facts to the bundle's values: Secure Boot, PK/KEK/db/dbx, boot manager and kernel", async () => {
    const c = eventLogCases[1]!;
    const { facts } = await replayEventLog(parseEventLog(c.log), banksOf({ sha256: c.pcrs.sha256 }));
    const full = manifest({ secure_boot: true, pk: [facts.pk], kek: [facts.kek], db: [facts.db], dbx: [facts.dbx], boot_manager: [facts.bootManager], kernel: [facts.kernel] });
    expect(await codeOf(() => appraiseEventLog(facts, full.eventLog!))).toBe("ok");
    expect(await codeOf(() => appraiseEventLog(facts, manifest({ dbx: ["00".repeat(32)] }).eventLog!))).toBe("event_log_value_not_allowed");
    expect(await codeOf(() => appraiseEventLog(facts, manifest({ kernel: [facts.bootManager] }).eventLog!))).toBe("event_log_value_not_allowed");
    expect(await codeOf(() => appraiseEventLog(null, full.eventLog!))).toBe("event_log_missing");
  });

  it("requires Secure Boot when the bundle says so (e2 booted without it)", async () => {
    const c = eventLogCases[2]!;
    const { facts } = await replayEventLog(parseEventLog(c.log), banksOf(c.pcrs));
    expect(await codeOf(() => appraiseEventLog(facts, manifest({ secure_boot: true }).eventLog!))).toBe("secure_boot_not_enabled");
    expect(await codeOf(() => appraiseEventLog(facts, manifest({}).eventLog!))).toBe("ok");
  });

  it("refuses reference values that are not hex of the fact's size", async () => {
    expect(await codeOf(() => manifest({ db: ["abcd"] }))).toBe("invalid_reference_values");
    expect(await codeOf(() => manifest({ kernel: ["00".repeat(48)] }))).toBe("invalid_reference_values");
  });
});
