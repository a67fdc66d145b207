"""Macros of the GoogleTest suites under tests/.

  zsalloc_gtest(name, deps, ...)   cc_test of name + ".cc", built with the
                                   tests' flags (CXX_COPTS) and linked with
                                   GoogleTest's main
  zsalloc_test_util(name, deps)    header-only helper library name + ".h" of
                                   a suite (testonly)
"""

load("//:copts.bzl", "CXX_COPTS")

def zsalloc_gtest(name, deps, size = None, threads = False, tags = [], **kwargs):
    """One GoogleTest suite.

    Args:
      name: the test; its source is name + ".cc".
      deps: what it uses (GoogleTest's main is added).
      size: Bazel's test size (None: Bazel's default, "medium").
      threads: tag it "threads": .ci/run runs those again under TSan.
      tags: other tags.
      **kwargs: passed to cc_test (data, ...).
    """
    native.cc_test(
        name = name,
        size = size,
        srcs = [name + ".cc"],
        copts = CXX_COPTS,
        tags = (["threads"] if threads else []) + tags,
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def zsalloc_test_util(name, deps, visibility = None):
    """The header name + ".h" that a suite's tests share."""
    native.cc_library(
        name = name,
        testonly = True,
        hdrs = [name + ".h"],
        copts = CXX_COPTS,
        deps = deps,
        visibility = visibility,
    )
