// TensorZip: the two declarations Jazzer.js takes from libFuzzer's internal FuzzerDefs.h (which
// Debian's libclang-rt-16-dev does not ship); they match upstream libFuzzer's definitions.
#pragma once
#include <cstddef>
#include <cstdint>
namespace fuzzer {
typedef int (*UserCallback)(const uint8_t *Data, size_t Size);
int FuzzerDriver(int *argc, char ***argv, UserCallback Callback);
} // namespace fuzzer
