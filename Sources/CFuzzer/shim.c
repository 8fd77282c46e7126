#include "CFuzzer.h"

// libFuzzer's entry point, referenced weakly: defined when linked with -sanitize=fuzzer, NULL in
// an ordinary `swift build`, so one target builds both ways.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, vigil_fuzz_callback callback) __attribute__((weak));

int vigil_fuzz_run_driver(int *argc, char ***argv, vigil_fuzz_callback callback) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
