"""zsalloc_fuzz_target: one fuzz target, its corpus replay test and its fuzzer.

For a target `name` whose source is `name + ".cc"` and whose committed
corpus (seeds and regression inputs) is `corpus/<name>/`:

  <name>_lib     the fuzz source (LLVMFuzzerTestOneInput), alwayslink
  <name>_replay  cc_test: replays every file of corpus/<name>/ through the
                 target with replay_main.cc; needs no libFuzzer, so
                 `bazel test //...` runs it under gcc and every sanitizer
  <name>         cc_binary: with --config=fuzz (clang, which sets
                 --define=fuzzing_engine=libfuzzer) a libFuzzer binary
                 (-fsanitize=fuzzer); otherwise the same replay program, so
                 that `bazel build //...` works without clang

Run the fuzzer:
  ./bazelw build --config=fuzz //tests/fuzz:<name>
  bazel-bin/tests/fuzz/<name> -max_total_time=60 /tmp/corpus tests/fuzz/corpus/<name>
"""

load("//:copts.bzl", "CXX_COPTS")

def zsalloc_fuzz_target(name, deps, size = "small"):
    lib = name + "_lib"
    corpus_dir = native.package_name() + "/corpus/" + name
    native.cc_library(
        name = lib,
        testonly = True,
        srcs = [name + ".cc"],
        copts = CXX_COPTS,
        deps = deps + [":fuzz_util"],
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_replay",
        size = size,
        copts = CXX_COPTS,
        args = [corpus_dir],
        data = native.glob(["corpus/" + name + "/*"]),
        deps = [
            ":" + lib,
            ":replay_main",
        ],
    )
    native.cc_binary(
        name = name,
        testonly = True,
        copts = CXX_COPTS,
        linkopts = select({
            ":libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = [":" + lib] + select({
            ":libfuzzer": [],
            "//conditions:default": [":replay_main"],
        }),
    )
