/* eslint-disable no-var, @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-function-type -- shaped as lib.dom declares it, so the two merge in the all-runtimes project */
/**
 * The part of the WebAssembly JS API the codec uses (wasmBackend.ts, zstd.ts). Node has it as a
 * global, but TypeScript declares it only in the DOM lib, which the Node projects leave out
 * (tsconfig.node.json); the DOM lib's full declaration is compatible with this one.
 */
declare namespace WebAssembly {
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  interface Module {}
  var Module: { prototype: Module; new (bytes: BufferSource): Module };
  interface Instance {
    readonly exports: Exports;
  }
  var Instance: { prototype: Instance; new (module: Module, importObject?: Imports): Instance };
  type ExportValue = Function | Memory | Global | Table;
  type Exports = Record<string, ExportValue>;
  type ImportValue = ExportValue | number;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;
  interface Global {
    value: unknown;
  }
  interface Table {
    readonly length: number;
  }
}
