import { describe, expect, it } from "vitest";
import { checkOutboundUrl } from "../../worker/net/outbound-url.ts";

describe("outbound endpoints", () => {
  it.each(["https://hec.splunk.example.com:8088/services/collector", "https://siem.example/events", "https://8.8.8.8/x", "https://[2606:4700::1111]/x"])("production accepts %s", (url) => {
    expect(checkOutboundUrl(url, { development: false }).ok).toBe(true);
  });

  it.each([
    ["http://siem.example/events", "not_https"],
    ["https://localhost/x", "private_address"],
    ["https://127.0.0.1/x", "private_address"],
    ["https://0x7f.1/x", "private_address"],
    ["https://10.1.2.3/x", "private_address"],
    ["https://172.20.0.1/x", "private_address"],
    ["https://192.168.1.10/x", "private_address"],
    ["https://169.254.169.254/latest/meta-data", "private_address"],
    ["https://100.64.0.1/x", "private_address"],
    ["https://[::1]/x", "private_address"],
    ["https://[fd00::1]/x", "private_address"],
    ["https://[fe80::1]/x", "private_address"],
    ["https://[::ffff:127.0.0.1]/x", "private_address"],
    ["https://sink.internal/x", "private_address"],
    ["https://user:pw@siem.example/x", "credentials_in_url"],
    ["https://siem.example\\@evil.example/", "not_a_url"],
    ["ftp://siem.example/", "not_a_url"],
  ])("production refuses %s (%s)", (url, reason) => {
    expect(checkOutboundUrl(url, { development: false })).toEqual({ ok: false, reason });
  });

  it("development allows http and local addresses, never credentials", () => {
    expect(checkOutboundUrl("http://127.0.0.1:9000/sink", { development: true }).ok).toBe(true);
    expect(checkOutboundUrl("http://a:b@127.0.0.1/", { development: true })).toEqual({ ok: false, reason: "credentials_in_url" });
  });
});
