import { describe, expect, it } from "vitest";
import type { EvidenceErrorCode } from "../../../worker/verifiers/errors.ts";
import { ByteReader, bytesEqual, concatBytes, fromHex, isAllZero, toHex } from "../../../worker/verifiers/reader.ts";
import { bitString, booleanValue, integerBytes, oidValue, parseNode, readNode, smallUint, timeValue } from "../../../worker/verifiers/x509/der.ts";

function codeOf(run: () => unknown): EvidenceErrorCode | "ok" {
  try {
    run();
    return "ok";
  } catch (e) {
    const code = (e as { code?: EvidenceErrorCode }).code;
    if (!code) throw e;
    return code;
  }
}

const data = fromHex("0102030405060708090a0b0c0d0e0f10");

describe("ByteReader", () => {
  it("reads little- and big-endian integers", () => {
    const r = new ByteReader(data);
    expect(r.u8()).toBe(0x01);
    expect(r.u16le()).toBe(0x0302);
    expect(r.u32le()).toBe(0x07060504);
    expect(r.u64le()).toBe(0x0f0e0d0c0b0a0908n);
    expect(r.remaining).toBe(1);
    const b = new ByteReader(data);
    expect(b.u16be()).toBe(0x0102);
    expect(b.u32be()).toBe(0x03040506);
    expect(b.u64be()).toBe(0x0708090a0b0c0d0en);
    expect(new ByteReader(fromHex("ffffffff")).u32le()).toBe(0xffffffff);
    expect(new ByteReader(fromHex("ffffffff")).u32be()).toBe(0xffffffff);
  });

  it("hands out zero-copy views", () => {
    const r = new ByteReader(data);
    r.u8();
    const v = r.bytes(4);
    expect(v.buffer).toBe(data.buffer);
    expect(v.byteOffset).toBe(data.byteOffset + 1);
    const sub = r.sub(3, "inner");
    expect(sub.u8()).toBe(0x06);
    expect(r.pos).toBe(8);
  });

  type Case = [name: string, run: () => unknown, code: EvidenceErrorCode | "ok"];
  const cases: Case[] = [
    ["u8 past the end", () => new ByteReader(new Uint8Array(0)).u8(), "evidence_truncated"],
    ["u16le with one byte", () => new ByteReader(fromHex("01")).u16le(), "evidence_truncated"],
    ["u32be with three bytes", () => new ByteReader(fromHex("010203")).u32be(), "evidence_truncated"],
    ["u64le with seven bytes", () => new ByteReader(fromHex("01020304050607")).u64le(), "evidence_truncated"],
    ["bytes(n) beyond the end", () => new ByteReader(data).bytes(17), "evidence_truncated"],
    ["bytes(-1)", () => new ByteReader(data).bytes(-1), "malformed_evidence"],
    ["bytes(NaN)", () => new ByteReader(data).bytes(Number.NaN), "malformed_evidence"],
    ["bytes(2^53)", () => new ByteReader(data).bytes(2 ** 53), "malformed_evidence"],
    ["sub beyond the end", () => new ByteReader(data).sub(20), "evidence_truncated"],
    ["reading past a sub-reader's end", () => new ByteReader(data).sub(2).u32le(), "evidence_truncated"],
    ["expectZero over zeros", () => new ByteReader(new Uint8Array(4)).expectZero(4), "ok"],
    ["expectZero over a non-zero byte", () => new ByteReader(fromHex("00000100")).expectZero(4), "reserved_nonzero"],
    ["expectZero beyond the end", () => new ByteReader(new Uint8Array(2)).expectZero(3), "evidence_truncated"],
    ["end with bytes left", () => new ByteReader(data).end(), "evidence_trailing_data"],
    ["end after everything", () => { const r = new ByteReader(data); r.bytes(16); r.end(); }, "ok"],
    ["seek outside", () => new ByteReader(data).seek(17), "malformed_evidence"],
  ];
  it.each(cases.map(([name, run, code]) => ({ name, run, code })))("$name → $code", ({ run, code }) => {
    expect(codeOf(run)).toBe(code);
  });

  it("helpers", () => {
    expect(toHex(fromHex("00ff10"))).toBe("00ff10");
    expect(codeOf(() => fromHex("abc"))).toBe("malformed_evidence");
    expect(codeOf(() => fromHex("zz"))).toBe("malformed_evidence");
    expect(isAllZero(new Uint8Array(3))).toBe(true);
    expect(isAllZero(fromHex("000100"))).toBe(false);
    expect(bytesEqual(fromHex("0102"), fromHex("0102"))).toBe(true);
    expect(bytesEqual(fromHex("0102"), fromHex("010203"))).toBe(false);
    expect(toHex(concatBytes(fromHex("01"), fromHex(""), fromHex("0203")))).toBe("010203");
  });
});

describe("strict DER", () => {
  type Case = [name: string, hex: string, run: (hex: string) => unknown, code: EvidenceErrorCode | "ok"];
  const node = (h: string) => parseNode(fromHex(h));
  const cases: Case[] = [
    ["SEQUENCE, short length", "3003020101", node, "ok"],
    ["long length form for a short value", "30810302010a", node, "malformed_evidence"],
    ["indefinite length", "308002010100 00".replace(/ /g, ""), node, "malformed_evidence"],
    ["length with a leading zero octet", "3082000302010a", node, "malformed_evidence"],
    ["length beyond the data", "300502010a", node, "evidence_truncated"],
    ["trailing byte after the element", "02010a00", node, "evidence_trailing_data"],
    ["high-tag-number form", "1f2a0100", node, "malformed_evidence"],
    ["INTEGER with a redundant 00", "0202007f", (h) => integerBytes(node(h), "i"), "malformed_evidence"],
    ["INTEGER with a redundant ff", "0202ff80", (h) => integerBytes(node(h), "i"), "malformed_evidence"],
    ["INTEGER 00 80 is minimal", "02020080", (h) => smallUint(node(h), "i"), "ok"],
    ["empty INTEGER", "0200", (h) => integerBytes(node(h), "i"), "malformed_evidence"],
    ["negative as unsigned", "020180", (h) => smallUint(node(h), "i"), "malformed_evidence"],
    ["BOOLEAN 01 (BER, not DER)", "010101", (h) => booleanValue(node(h), "b"), "malformed_evidence"],
    ["BOOLEAN ff", "0101ff", (h) => booleanValue(node(h), "b"), "ok"],
    ["OID with a non-minimal arc", "06038001 01".replace(/ /g, ""), (h) => oidValue(node(h), "o"), "malformed_evidence"],
    ["OID truncated arc", "060181", (h) => oidValue(node(h), "o"), "malformed_evidence"],
    ["BIT STRING with 8 unused bits", "03020800", (h) => bitString(node(h), "b"), "malformed_evidence"],
    ["BIT STRING with non-zero unused bits", "03020101", (h) => bitString(node(h), "b"), "malformed_evidence"],
    ["UTCTime without seconds", "170b323530313031303030305a", (h) => timeValue(node(h), "t"), "malformed_evidence"],
    ["UTCTime 31 February", "170d3235303233313030303030305a".slice(0, 30), (h) => timeValue(node(h), "t"), "malformed_evidence"],
    ["GeneralizedTime with fraction", "181132303530303130313030303030302e305a", (h) => timeValue(node(h), "t"), "malformed_evidence"],
  ];
  it.each(cases.map(([name, hex, run, code]) => ({ name, hex, run, code })))("$name → $code", ({ hex, run, code }) => {
    expect(codeOf(() => run(hex))).toBe(code);
  });

  it("decodes OIDs and times", () => {
    expect(oidValue(node("06092a864886f70d01010a"), "o")).toBe("1.2.840.113549.1.1.10");
    expect(oidValue(node("06032b6570"), "o")).toBe("1.3.101.112");
    expect(timeValue(node("170d3235303630313030303030305a"), "t").toISOString()).toBe("2025-06-01T00:00:00.000Z");
    expect(timeValue(node("170d3439313233313233353935395a"), "t").toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(timeValue(node("170d3530303130313030303030305a"), "t").toISOString()).toBe("1950-01-01T00:00:00.000Z");
    expect(timeValue(node("180f32303530303130313030303030305a"), "t").toISOString()).toBe("2050-01-01T00:00:00.000Z");
    const r = new ByteReader(fromHex("020101020102"));
    expect(smallUint(readNode(r), "a")).toBe(1);
    expect(smallUint(readNode(r), "b")).toBe(2);
  });
});
