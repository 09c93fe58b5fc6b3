// TensorZip: lets Jazzer.js's native part link against upstream libFuzzer (Debian's
// libclang_rt.fuzzer_no_main) instead of Code Intelligence's patched fork, whose extra entry
// points it calls. See ../README.md.
#include <cstdint>

extern "C" {
void __jazzer_set_death_callback(void (*callback)());
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);

// Upstream libFuzzer registers its crash callback (which writes the crashing input) through the
// sanitizer runtime's hook, a weak symbol that this definition provides.
void __sanitizer_set_death_callback(void (*callback)()) { __jazzer_set_death_callback(callback); }

// The fork's variants take the comparison's site explicitly; upstream takes the caller's address.
// The site only matters for -use_value_profile (off by default); the compared values still feed
// libFuzzer's table of recent comparisons, which is what guides mutations towards magic values.
void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t called_pc, uint64_t arg1, uint64_t arg2) {
  (void)called_pc;
  __sanitizer_cov_trace_const_cmp8(arg1, arg2);
}
void __sanitizer_cov_trace_pc_indir_with_pc(void *caller_pc, uintptr_t callee) {
  (void)caller_pc;
  __sanitizer_cov_trace_pc_indir(callee);
}
}
