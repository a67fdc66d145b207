"""The one set of compiler flags every zsalloc target builds with."""

# C11 with every warning we can afford, as errors, clean under gcc 12 and clang 14.
C_COPTS = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wmissing-prototypes",
    "-Wstrict-prototypes",
    "-Wold-style-definition",
    "-Wpointer-arith",
    "-Wcast-qual",
    "-Wwrite-strings",
    "-Wundef",
    "-Wvla",
    "-Wformat=2",
    "-Wimplicit-fallthrough",
    "-Wmissing-declarations",
    "-Wnull-dereference",
]

# Tests and fuzz drivers are C++17 (GoogleTest); same strictness where it applies.
CXX_COPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wpointer-arith",
    "-Wundef",
    "-Wformat=2",
]
