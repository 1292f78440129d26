import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { WardenClient, generateDeviceKey } from "../../cli/client.ts";
import { JwsShapeError, strictJwsParts } from "../../worker/tokens/jws.ts";
import { DEFAULT_MAX_DEPTH, StrictJsonError, parseStrictJson, type JsonValue, type StrictJsonCode } from "../../worker/json/strict.ts";

/** The code `input` is refused with, or "ok": the tables assert codes, never messages. */
function codeOf(input: string | Uint8Array, options?: { maxDepth?: number }): StrictJsonCode | "ok" {
  try {
    parseStrictJson(input, options);
    return "ok";
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    return error.code;
  }
}

const bytes = (...values: number[]) => Uint8Array.from(values);
const utf8 = (text: string) => new TextEncoder().encode(text);
/** No unpaired surrogate (the text can be encoded as UTF-8). */
const wellFormed = (text: string) => !/\p{Cs}/u.test(text);
const nested = (depth: number, open = "[", close = "]") => open.repeat(depth) + close.repeat(depth);

/**
 * Texts RFC 8259 allows, with the value they must read as. Where JSON.parse reads the same
 * text (every row but the -0 ones), the value is also compared with its reading.
 */
const ACCEPTED: [name: string, text: string, value: JsonValue][] = [
  ["an empty object", "{}", {}],
  ["an empty array", "[]", []],
  ["a top-level string (RFC 8259 §2 allows any value)", '"x"', "x"],
  ["a top-level number", "42", 42],
  ["true", "true", true],
  ["false", "false", false],
  ["null", "null", null],
  ["whitespace of all four kinds around and inside", ' \t\r\n{ "a" :\t[ 1 ,\n2 ] }\r\n ', { a: [1, 2] }],
  ["nested objects and arrays", '{"a":{"b":[{"c":[]}]},"d":[[[]]]}', { a: { b: [{ c: [] }] }, d: [[[]]] }],
  ["every short escape", '"\\" \\\\ \\/ \\b \\f \\n \\r \\t"', '" \\ / \b \f \n \r \t'],
  ["a \\u escape, both cases of hex", '"\\u00e9\\u00E9\\u0041"', "ééA"],
  ["an escaped NUL (escaped control characters are fine)", '"\\u0000"', "\u0000"],
  ["a surrogate pair written as two escapes", '"\\ud83d\\ude00"', "😀"],
  ["a raw surrogate pair", '"😀"', "😀"],
  ["non-ASCII text", '{"ключ":"значение","键":"值"}', { ключ: "значение", 键: "值" }],
  ["DEL and U+FEFF inside a string", '"\u007f\ufeff"', "\u007f\ufeff"],
  ["escaped and raw text mixed", '"a\\nb\\u0063d"', "a\nbcd"],
  ["zero", "0", 0],
  ["a negative integer", "-17", -17],
  ["fractions and exponents", "[0.5,-0.25,1e3,1E3,1e+3,2.5e-3,10E-1]", [0.5, -0.25, 1000, 1000, 1000, 0.0025, 1]],
  ["2^53−1 and its negative, the largest safe magnitudes", "[9007199254740991,-9007199254740991]", [9007199254740991, -9007199254740991]],
  ["a 16-digit integer inside the safe range", "1234567890123456", 1234567890123456],
  ["0e400 (zero, however written)", "0e400", 0],
  ["the smallest subnormal double", "5e-324", 5e-324],
  ["the same name in two different objects", '[{"a":1},{"a":2}]', [{ a: 1 }, { a: 2 }]],
  ["names that differ only in case", '{"a":1,"A":2}', { a: 1, A: 2 }],
  ["names that are Object.prototype members", '{"constructor":1,"toString":2,"hasOwnProperty":3}', { constructor: 1, toString: 2, hasOwnProperty: 3 }],
  ["integer-like names", '{"1":"a","0":"b"}', { 1: "a", 0: "b" }],
  ["exactly the default depth", nested(DEFAULT_MAX_DEPTH), JSON.parse(nested(DEFAULT_MAX_DEPTH)) as JsonValue],
];

/** Texts a strict reader refuses, each with the code it is refused with. */
const REFUSED: [name: string, input: string | Uint8Array, code: StrictJsonCode][] = [
  // RFC 8259 grammar (JSONTestSuite's n_* families, our own cases)
  ["an empty text", "", "unexpected_end"],
  ["only whitespace", " \n\t ", "unexpected_end"],
  ["an unterminated object", '{"a":1', "unexpected_end"],
  ["an unterminated array", "[1,2", "unexpected_end"],
  ["an unterminated string", '"abc', "unexpected_end"],
  ["a name without a value", '{"a":', "unexpected_end"],
  ["a cut-off literal", "tru", "unexpected_end"],
  ["a cut-off escape", '"\\', "unexpected_end"],
  ["a cut-off \\u escape", '"\\u00', "unexpected_end"],
  ["a cut-off exponent", "1e", "unexpected_end"],
  ["a lone minus", "-", "unexpected_end"],
  ["a trailing comma in an object", '{"a":1,}', "syntax"],
  ["a trailing comma in an array", "[1,2,]", "syntax"],
  ["an elided array element", "[1,,2]", "syntax"],
  ["a leading comma", "[,1]", "syntax"],
  ["a missing comma", "[1 2]", "syntax"],
  ["a missing colon", '{"a" 1}', "syntax"],
  ["a comma for a colon", '{"a",1}', "syntax"],
  ["an unquoted name", "{a:1}", "syntax"],
  ["a single-quoted name", "{'a':1}", "syntax"],
  ["a single-quoted string", "['a']", "syntax"],
  ["a number as a name", "{1:1}", "syntax"],
  ["a line comment", '{"a":1 // note\n}', "syntax"],
  ["a block comment", '/* note */ {"a":1}', "syntax"],
  ["a hash comment", '# note\n{"a":1}', "syntax"],
  ["a leading zero", "01", "syntax"],
  ["a negative leading zero", "-012", "syntax"],
  ["a plus sign", "+1", "syntax"],
  ["a fraction without an integer part", ".5", "syntax"],
  ["a fraction without digits", "1.}", "syntax"],
  ["a fraction without digits before an exponent", "1.e3", "syntax"],
  ["an exponent without digits", "[1e]", "syntax"],
  ["hexadecimal", "0x1F", "trailing_data"],
  ["NaN", "NaN", "syntax"],
  ["Infinity", "[Infinity]", "syntax"],
  ["-Infinity", "-Infinity", "syntax"],
  ["capitalised literals", "True", "syntax"],
  ["a misspelt literal", "nul1", "syntax"],
  ["undefined", "undefined", "syntax"],
  ["a bare word", "[abc]", "syntax"],
  ["a non-breaking space as whitespace", "[\u00a01]", "syntax"],
  ["a form feed as whitespace", "[\f1]", "syntax"],
  ["a closing bracket for a brace", '{"a":1]', "syntax"],
  ["a closing brace alone", "}", "syntax"],
  // trailing data
  ["two values", "{} {}", "trailing_data"],
  ["a value then garbage", '{"a":1}x', "trailing_data"],
  ["a value then a NUL", "1\u0000", "trailing_data"],
  ["a number then a second number", "1 2", "trailing_data"],
  // strings
  ["a raw newline in a string", '"a\nb"', "control_character"],
  ["a raw tab in a string", '"a\tb"', "control_character"],
  ["a raw NUL in a string", '"\u0000"', "control_character"],
  ["a raw U+001F in a name", '{"\u001f":1}', "control_character"],
  ["\\x escapes", '"\\x41"', "invalid_escape"],
  ["\\' escapes", "\"\\'\"", "invalid_escape"],
  ["\\U escapes", '"\\U0041"', "invalid_escape"],
  ["\\u with non-hex digits", '"\\u00g1"', "invalid_escape"],
  ["\\u with too few digits", '"\\u41"', "invalid_escape"],
  ["an escaped newline (line continuation)", '"a\\\nb"', "invalid_escape"],
  // surrogates (RFC 8259 §8.2)
  ["an escaped lone high surrogate", '"\\ud800"', "lone_surrogate"],
  ["an escaped lone low surrogate", '"\\udc00"', "lone_surrogate"],
  ["an escaped high surrogate then a non-surrogate escape", '"\\ud800\\u0041"', "lone_surrogate"],
  ["an escaped high surrogate then another high one", '"\\ud800\\ud800"', "lone_surrogate"],
  ["an escaped high surrogate then \\n", '"\\ud800\\n"', "lone_surrogate"],
  ["an escaped pair in the wrong order", '"\\udc00\\ud800"', "lone_surrogate"],
  ["a raw lone high surrogate", '"\ud800"', "lone_surrogate"],
  ["a raw lone low surrogate", '"\udc00"', "lone_surrogate"],
  ["a raw high surrogate then an escaped low one", '"\ud800\\udc00"', "lone_surrogate"],
  ["an escaped high surrogate then a raw low one", '"\\ud800\udc00"', "lone_surrogate"],
  ["a lone surrogate in a name", '{"\\ud800":1}', "lone_surrogate"],
  // bytes: UTF-8 (RFC 8259 §8.1, RFC 3629)
  ["a stray continuation byte", bytes(0x22, 0x80, 0x22), "invalid_utf8"],
  ["an overlong encoding of '/'", bytes(0x22, 0xc0, 0xaf, 0x22), "invalid_utf8"],
  ["a surrogate encoded in UTF-8 (CESU-8)", bytes(0x22, 0xed, 0xa0, 0x80, 0x22), "invalid_utf8"],
  ["a truncated multi-byte sequence", bytes(0x22, 0xe2, 0x82, 0x22), "invalid_utf8"],
  ["a code point beyond U+10FFFF", bytes(0x22, 0xf4, 0x90, 0x80, 0x80, 0x22), "invalid_utf8"],
  ["0xFF", bytes(0x22, 0xff, 0x22), "invalid_utf8"],
  ["Latin-1 text", bytes(0x22, 0xe9, 0x22), "invalid_utf8"],
  ["UTF-16 with its BOM", bytes(0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00), "invalid_utf8"],
  // byte order marks
  ["a UTF-8 BOM in bytes", bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d), "bom"],
  ["a BOM in text", "\ufeff{}", "bom"],
  ["a BOM after whitespace", " \ufeff{}", "syntax"],
  // duplicate names (RFC 8259 §4)
  ["two equal names", '{"a":1,"a":2}', "duplicate_key"],
  ["two equal names, equal values", '{"a":1,"a":1}', "duplicate_key"],
  ["a name and its escaped spelling", '{"a":1,"\\u0061":2}', "duplicate_key"],
  ["a name and its escaped spelling, uppercase hex", '{"\\u00E9":1,"é":2}', "duplicate_key"],
  ["names equal after \\/ unescaping", '{"a/b":1,"a\\/b":2}', "duplicate_key"],
  ["a duplicate deep inside", '{"a":[{"b":{"c":1,"c":2}}]}', "duplicate_key"],
  ["a duplicate far apart", `{"a":1,${Array.from({ length: 100 }, (_, k) => `"k${k}":${k}`).join(",")},"a":2}`, "duplicate_key"],
  ["a duplicate __proto__", '{"__proto__":1,"__proto__":2}', "duplicate_key"],
  ["an empty name twice", '{"":1,"":2}', "duplicate_key"],
  // numbers (RFC 8259 §6, I-JSON §2.2)
  ["2^53", "9007199254740992", "unsafe_integer"],
  ["2^53+1 (reads as 2^53 in a double)", "9007199254740993", "unsafe_integer"],
  ["-(2^53+1)", "-9007199254740993", "unsafe_integer"],
  ["a 20-digit integer", "12345678901234567890", "unsafe_integer"],
  ["2^53+1 with a zero fraction", "9007199254740993.0", "unsafe_integer"],
  ["a fraction that rounds past 2^53−1", "9007199254740991.9", "unsafe_integer"],
  ["1.0e20 (integral, beyond 2^53)", "1.0e20", "unsafe_integer"],
  ["1.5e300", "1.5e300", "unsafe_integer"],
  ["the largest double", "1.7976931348623157e308", "unsafe_integer"],
  ["1e400 (beyond a double)", "1e400", "non_finite_number"],
  ["-1e400", "-1e400", "non_finite_number"],
  ["a 400-digit integer", "9".repeat(400), "non_finite_number"],
  ["1e-400 (rounds to zero)", "1e-400", "number_underflow"],
  ["-1e-400", "-1e-400", "number_underflow"],
  ["0.000…1 with 400 zeros", `0.${"0".repeat(400)}1`, "number_underflow"],
  // depth
  ["arrays one deeper than the default", nested(DEFAULT_MAX_DEPTH + 1), "too_deep"],
  ["objects one deeper than the default", `${'{"a":'.repeat(DEFAULT_MAX_DEPTH + 1)}1${"}".repeat(DEFAULT_MAX_DEPTH + 1)}`, "too_deep"],
  ["100,000 opening brackets (no stack exhaustion)", "[".repeat(100_000), "too_deep"],
];

describe("strict JSON: texts RFC 8259 allows", () => {
  it.each(ACCEPTED)("%s", (_name, text, value) => {
    expect(parseStrictJson(text)).toEqual(value);
    expect(parseStrictJson(utf8(text))).toEqual(value);
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it("reads -0 (and -0.0, -0e5) as 0, as RFC 8785 serialises it", () => {
    for (const text of ["-0", "-0.0", "-0e5", "-0E-3"]) expect(Object.is(parseStrictJson(text), 0)).toBe(true);
    expect(Object.is((parseStrictJson("[-0]") as number[])[0], 0)).toBe(true);
  });

  it("keeps member order as JSON.parse does", () => {
    const text = '{"b":1,"a":2,"2":3,"1":4,"c":{"z":1,"y":2}}';
    expect(JSON.stringify(parseStrictJson(text))).toBe(JSON.stringify(JSON.parse(text)));
  });
});

describe("strict JSON: texts it refuses, each with its code", () => {
  it.each(REFUSED)("%s", (_name, input, code) => {
    expect(codeOf(input)).toBe(code);
    // Text rows fail the same way when they arrive as UTF-8 bytes (lone surrogates cannot be encoded, so they fail as bytes).
    if (typeof input === "string" && wellFormed(input)) expect(codeOf(utf8(input))).toBe(code);
  });

  it("says where, never what: the message has the code and offset and none of the input", () => {
    const secret = "hunter2-very-secret";
    try {
      parseStrictJson(`{"${secret}":1,"${secret}":2}`);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StrictJsonError);
      const refused = error as StrictJsonError;
      expect(refused).toMatchObject({ name: "StrictJsonError", code: "duplicate_key", offset: 25 });
      expect(refused.message).not.toContain(secret);
    }
  });
});

describe("strict JSON: options and safety", () => {
  it("takes a smaller or larger depth bound", () => {
    expect(codeOf("[[1]]", { maxDepth: 1 })).toBe("too_deep");
    expect(codeOf("[[1]]", { maxDepth: 2 })).toBe("ok");
    expect(codeOf(nested(100), { maxDepth: 100 })).toBe("ok");
    // A depth bound of one call does not leak into the next.
    expect(codeOf(nested(DEFAULT_MAX_DEPTH))).toBe("ok");
  });

  it("never lets __proto__ change the prototype of what it returns", () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(value)).toEqual(["__proto__", "a"]);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual({ polluted: true });
    expect(Object.getPrototypeOf(value["a"])).toBe(Object.prototype);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("reads a document near the body cap the same way JSON.parse does", () => {
    const document = {
      decisions: Array.from({ length: 30 }, (_, k) => ({
        agent: { id: `agent-${k}`, version: "1.0" },
        action: { type: "file.read", targets: [{ kind: "path", value: `/home/dev/ws/ファイル-${k}\t"x".ts` }] },
        context: { n: k * 1013, f: k / 7, ok: k % 2 === 0, nothing: null, emoji: "😀" },
      })),
    };
    const text = JSON.stringify(document);
    expect(parseStrictJson(utf8(text))).toEqual(JSON.parse(text));
  });
});

describe("compact JWS header and payload, strictly (worker/tokens/jws.ts)", () => {
  const segment = (text: string) => base64url.encode(text);
  const jws = (header: string, payload: string) => `${segment(header)}.${segment(payload)}.c2ln`;
  const codeOfJws = (token: string) => {
    try {
      strictJwsParts(token);
      return "ok";
    } catch (error) {
      if (!(error instanceof JwsShapeError)) throw error;
      return error.code;
    }
  };

  it.each([
    ["a well-formed token", jws('{"alg":"EdDSA"}', '{"sub":"a"}'), "ok"],
    ["two parts", `${segment("{}")}.${segment("{}")}`, "not_compact_jws"],
    ["five parts (JWE)", "a.b.c.d.e", "not_compact_jws"],
    ["an empty header", `.${segment("{}")}.c2ln`, "not_base64url"],
    ["padding in a segment", `${segment('{"alg":"EdDSA"}')}=.${segment("{}")}.c2ln`, "not_base64url"],
    ["standard base64 characters", `${segment("{}")}.${Buffer.from('{"a":"??>"}').toString("base64")}.c2ln`, "not_base64url"],
    ["two alg members in the header", jws('{"alg":"none","alg":"EdDSA"}', '{"sub":"a"}'), "duplicate_key"],
    ["two htu claims in the payload", jws('{"alg":"EdDSA"}', '{"htu":"https://evil.example/","htu":"https://warden.test/"}'), "duplicate_key"],
    ["a lone surrogate in a claim", jws('{"alg":"EdDSA"}', '{"sub":"\\udead"}'), "lone_surrogate"],
    ["an unsafe integer claim", jws('{"alg":"EdDSA"}', '{"exp":9007199254740993}'), "unsafe_integer"],
    ["a BOM before the header", jws('\ufeff{"alg":"EdDSA"}', "{}"), "bom"],
    ["a payload that is an array", jws('{"alg":"EdDSA"}', "[1]"), "not_an_object"],
    ["a header that is a string", jws('"EdDSA"', "{}"), "not_an_object"],
  ])("%s → %s", (_name, token, code) => {
    expect(codeOfJws(token)).toBe(code);
  });

  it("returns both parts, read like any strict JSON", () => {
    expect(strictJwsParts(jws('{"alg":"EdDSA","typ":"x"}', '{"n":1,"s":"é"}'))).toEqual({ header: { alg: "EdDSA", typ: "x" }, payload: { n: 1, s: "é" } });
  });
});

describe("the shim's client reads Warden's answers strictly (cli/client.ts)", () => {
  const answering = (body: string) => async () => {
    const key = await generateDeviceKey();
    return new WardenClient({ url: "https://warden.test", deviceId: "d", key, fetch: async () => new Response(body, { status: 200, headers: { "content-type": "application/json" } }) });
  };

  it("an answer with two `decision`s is an error, not whichever one JSON.parse keeps", async () => {
    const client = await (answering('{"decision":"deny","decision":"permit"}'))();
    await expect(client.request("GET", "/v1/x")).rejects.toMatchObject({ code: "duplicate_key" });
  });

  it("control: the same answer with one member, and an empty answer", async () => {
    expect((await (await answering('{"decision":"deny"}')()).request("GET", "/v1/x")).body).toEqual({ decision: "deny" });
    expect((await (await answering("")()).request("GET", "/v1/x")).body).toBeNull();
  });
});
