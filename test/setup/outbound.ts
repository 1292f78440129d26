/**
 * miniflare `outboundService` of the workerd tests (vitest.config.mts): every fetch the worker
 * makes to the network lands here and goes to the stand-in for that host. Anything else is
 * refused, since tests have no outbound network.
 */
import { accessIssuer, isAccessTeam } from "./access-issuer.ts";
import { AMD_KDS_HOST, amdKds } from "./amd-kds.ts";
import { OCSF_AUDIT_HOST, ocsfAuditOutbound } from "./ocsf-audit.ts";
import { SIEM_HOST, siemOutbound } from "./siem-sink.ts";
import { JIRA_HOST, SERVICENOW_HOST, ticketServices } from "./ticket-services.ts";
import { WEBHOOK_HOST, webhookOutbound } from "./webhook-sink.ts";

const HOSTS: Record<string, (request: Request) => Promise<Response>> = {
  [WEBHOOK_HOST]: webhookOutbound,
  [JIRA_HOST]: ticketServices,
  [SERVICENOW_HOST]: ticketServices,
  [SIEM_HOST]: siemOutbound,
  [OCSF_AUDIT_HOST]: ocsfAuditOutbound,
  [AMD_KDS_HOST]: amdKds,
};

export function outbound(request: Request): Promise<Response> {
  const host = new URL(request.url).hostname;
  // Every Access team is served by the one issuer: tests also point teams Warden must refuse at it.
  const handler = isAccessTeam(host) ? accessIssuer : HOSTS[host];
  return handler ? handler(request) : Promise.resolve(new Response(`tests have no outbound network (${host})`, { status: 502 }));
}
