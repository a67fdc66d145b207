#!/bin/sh
# Offline stand-in for Bazel's coverage tools (see WORKSPACE).
echo "zsalloc: 'bazel coverage' is not supported offline (no coverage tools)" >&2
exit 1
