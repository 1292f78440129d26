// The real-hardware fixtures of test/fixtures/attestation (see the MANIFEST.md
// files there). Text files are imported with `?raw`; binary files through the
// base64 `.b64` copy made beside each one (Vite's `?raw` decodes as UTF-8,
// which would corrupt binary bytes).
import { fromBase64 } from "./pki.ts";

import s1Report from "../../fixtures/attestation/sev-snp/s1-gosevguest-milan-v2-debug-policy/attestation.bin.b64?raw";
import s1Vcek from "../../fixtures/attestation/sev-snp/s1-gosevguest-milan-v2-debug-policy/vcek.testcer.b64?raw";
import s2ReportHex from "../../fixtures/attestation/sev-snp/s2-virtee-milan-v2/report_milan.hex?raw";
import s2Vcek from "../../fixtures/attestation/sev-snp/s2-virtee-milan-v2/vcek_milan.der.b64?raw";
import s2Chain from "../../fixtures/attestation/sev-snp/s2-virtee-milan-v2/cert_chain_milan?raw";
import s3Report from "../../fixtures/attestation/sev-snp/s3-trustee-milan-v3-vlek-aws/test-vlek-report.bin.b64?raw";
import s3Vlek from "../../fixtures/attestation/sev-snp/s3-trustee-milan-v3-vlek-aws/test-vlek.der.b64?raw";
import s3Chain from "../../fixtures/attestation/sev-snp/s3-trustee-milan-v3-vlek-aws/milan_ask_ark_asvk.pem?raw";
import s4Evidence from "../../fixtures/attestation/sev-snp/s4-azure-genoa-v3-hcl/evidence-genoa.json?raw";
import s4Vcek from "../../fixtures/attestation/sev-snp/s4-azure-genoa-v3-hcl/vcek-genoa.pem?raw";
import s5Vcek from "../../fixtures/attestation/sev-snp/s5-virtee-turin-vcek-chain-only/vcek_turin.der.b64?raw";
import s5Chain from "../../fixtures/attestation/sev-snp/s5-virtee-turin-vcek-chain-only/cert_chain_turin?raw";
import amdMilan from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_milan.pem?raw";
import amdMilanVlek from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_milan_vlek.pem?raw";
import amdGenoa from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_genoa.pem?raw";
import amdGenoaVlek from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_genoa_vlek.pem?raw";
import amdTurin from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_turin_vcek.pem?raw";
import amdTurinVlek from "../../fixtures/attestation/sev-snp/amd-roots/ask_ark_turin_vlek.pem?raw";

import intelRoot from "../../fixtures/attestation/tdx/intel-sgx-root-ca.der.b64?raw";
import t1Quote from "../../fixtures/attestation/tdx/t1-dcapqvl-v4-uptodate/tdx_quote.b64?raw";
import t1Collateral from "../../fixtures/attestation/tdx/t1-dcapqvl-v4-uptodate/tdx_quote_collateral.json?raw";
import t2Quote from "../../fixtures/attestation/tdx/t2-dcapqvl-v5-no-tcb-level/tdx_quote_outdated.b64?raw";
import t2Collateral from "../../fixtures/attestation/tdx/t2-dcapqvl-v5-no-tcb-level/tdx_quote_outdated_collateral.json?raw";
import t3Quote from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/tdx_prod_quote_SPR_E4.dat.b64?raw";
import t3TcbInfo from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/sample_tcbInfo_response?raw";
import t3QeIdentity from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/sample_qeIdentity_response?raw";
import t3PckCrl from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/pckcrl.b64?raw";
import t3RootCrl from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/rootcrl.der.b64?raw";
import t3TcbChain from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/tcbInfoIssuerChain.pem?raw";
import t3QeChain from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/qeIdentityIssuerChain.pem?raw";
import t3PckCrlChain from "../../fixtures/attestation/tdx/t3-gotdxguest-v4-spr-e4-no-tcb-level/pckCrlIssuerChain.pem?raw";
import t4Quote from "../../fixtures/attestation/tdx/t4-trustee-v4-outofdate-no-pck-crl/tdx_quote_6.dat.b64?raw";
import t4TcbInfo from "../../fixtures/attestation/tdx/t4-trustee-v4-outofdate-no-pck-crl/tcbInfo.json?raw";
import t4QeIdentity from "../../fixtures/attestation/tdx/t4-trustee-v4-outofdate-no-pck-crl/enclaveIdentity.json?raw";

function hexBytes(text: string): Uint8Array {
  const t = text.trim();
  return Uint8Array.from({ length: t.length / 2 }, (_, i) => parseInt(t.slice(2 * i, 2 * i + 2), 16));
}

export const amdRoots = { milan: amdMilan, milanVlek: amdMilanVlek, genoa: amdGenoa, genoaVlek: amdGenoaVlek, turin: amdTurin, turinVlek: amdTurinVlek };

/** SEV-SNP cases s1–s5 of sev-snp/MANIFEST.md. */
export const snp = {
  s1: { report: fromBase64(s1Report), vcek: fromBase64(s1Vcek), chainPem: amdMilan, reportB64: s1Report },
  s2: { report: hexBytes(s2ReportHex), reportHex: s2ReportHex, vcek: fromBase64(s2Vcek), chainPem: s2Chain },
  s3: { report: fromBase64(s3Report), vlek: fromBase64(s3Vlek), chainPem: s3Chain },
  s4: { evidenceJson: s4Evidence, vcekPem: s4Vcek, chainPem: amdGenoa },
  s5: { vcek: fromBase64(s5Vcek), chainPem: s5Chain },
};

/** TDX cases t1–t4 of tdx/MANIFEST.md. */
export const tdx = {
  rootDer: fromBase64(intelRoot),
  t1: { quote: fromBase64(t1Quote), collateralJson: t1Collateral },
  t2: { quote: fromBase64(t2Quote), collateralJson: t2Collateral },
  t3: {
    quote: fromBase64(t3Quote),
    tcbInfo: t3TcbInfo,
    qeIdentity: t3QeIdentity,
    pckCrl: fromBase64(t3PckCrl),
    rootCrl: fromBase64(t3RootCrl),
    tcbInfoChain: t3TcbChain,
    qeIdentityChain: t3QeChain,
    pckCrlChain: t3PckCrlChain,
  },
  t4: { quote: fromBase64(t4Quote), tcbInfo: t4TcbInfo, qeIdentity: t4QeIdentity },
};
