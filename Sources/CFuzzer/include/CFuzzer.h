#include <stddef.h>
#include <stdint.h>

/// One fuzz input; returns 0.
typedef int (*vigil_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver (LLVMFuzzerRunDriver) with `callback` when the binary was linked with
/// `-sanitize=fuzzer`; returns -1 in an ordinary build, which has no libFuzzer.
int vigil_fuzz_run_driver(int *argc, char ***argv, vigil_fuzz_callback callback);
