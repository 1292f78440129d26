/**
 * SEV-SNP products (EPYC generations) and the layout of their TCB_VERSION.
 * AMD KDS specification (pub. 57230) "Determining the Product Name" and the
 * SNP ABI TCB_VERSION tables: Milan and Genoa share one layout, Turin (Zen 5)
 * adds an FMC SPL and moves the others.
 */
export type SnpProduct = "Milan" | "Genoa" | "Turin";
export const SNP_PRODUCTS: readonly SnpProduct[] = ["Milan", "Genoa", "Turin"];

/** The security patch levels of one TCB_VERSION. */
export interface SnpTcb {
  /** Turin only. */
  readonly fmc?: number;
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
}

/** The product a report's CPUID family/model (version 3 and later) names, if any. */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19) {
    if (model <= 0x0f) return "Milan";
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return "Genoa";
  }
  if (family === 0x1a && model <= 0x11) return "Turin";
  return undefined;
}

/** The product a V[CL]EK's productName extension names ("Milan-B0", "Genoa", "Turin"). */
export function productFromName(name: string): SnpProduct | undefined {
  const base = name.split("-")[0];
  return SNP_PRODUCTS.find((p) => p === base);
}

/** Decodes the 8 TCB_VERSION bytes of a report in `product`'s layout. */
export function decodeTcb(product: SnpProduct, bytes: Uint8Array): SnpTcb {
  const b = (i: number) => bytes[i] as number;
  if (product === "Turin") return { fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  return { bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}

/** True when every component of `tcb` is at or above `minimum` (a partial order, not a number). */
export function tcbAtLeast(tcb: SnpTcb, minimum: SnpTcb): boolean {
  return (
    tcb.bootloader >= minimum.bootloader &&
    tcb.tee >= minimum.tee &&
    tcb.snp >= minimum.snp &&
    tcb.microcode >= minimum.microcode &&
    (tcb.fmc ?? 0) >= (minimum.fmc ?? 0)
  );
}
