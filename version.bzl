"""zsalloc's release version: the one place it is written.

The shared library is libzsalloc.so.MAJOR.MINOR.PATCH with soname
libzsalloc.so.MAJOR; zsalloc.pc says MAJOR.MINOR.PATCH. How it moves:
  PATCH  a fix that changes no declaration and no documented behaviour.
  MINOR  functions added (or a documented behaviour extended compatibly):
         the new functions go into a new version node ZSALLOC_MAJOR.MINOR of
         zsalloc.map that inherits the previous one, so programs linked
         against an older libzsalloc.so.MAJOR keep running on the newer one.
  MAJOR  anything a program built against the old headers could notice:
         a function removed or its signature changed, a public struct's
         layout (zs_config, zs_stats, zs_class_stat, xv_config, xv_stats,
         mp_config, mp_stats: callers allocate them), an enum value, or a
         constant callers compile in (ZS_MAX_MAPPINGS, ZS_NR_FULLNESS, ...).
         The soname becomes libzsalloc.so.MAJOR+1 and zsalloc.map starts
         over with one node ZSALLOC_MAJOR+1.0. MINOR and PATCH reset to 0.
While MAJOR is 0 the same rules hold (0.1 -> 0.2 adds, 0.x -> 1.0 breaks).
"""

ZSALLOC_VERSION = "2.0.0"

# The soname's number: libzsalloc.so.<ZSALLOC_SOVERSION>.
ZSALLOC_SOVERSION = ZSALLOC_VERSION.split(".")[0]
