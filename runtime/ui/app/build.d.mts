/** Bundles the `kubestep ui` browser app into `outdir` (default dist/ui of the package); resolves to the directory. */
export function buildUi(outdir?: string): Promise<string>;
