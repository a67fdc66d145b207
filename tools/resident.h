/*
 * resident.h - the memory a process holds, as a person would measure it,
 * and the linked malloc's way of giving free memory back.
 *
 * density measures every real allocator (zsmalloc, xvmalloc, malloc) the
 * same way: in a process forked for it, as the growth of resident_bytes()
 * from just before the pool is created. Memory inherited from the parent is
 * in the baseline; everything the allocator and its library take is in the
 * growth: pages, page caches, records from malloc, the malloc's own headers
 * and holes, per-thread buffers and windows, page tables.
 */
#ifndef ZSALLOC_TOOLS_RESIDENT_H
#define ZSALLOC_TOOLS_RESIDENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * resident_bytes - the resident memory of this process: the proportional set
 * size of its anonymous pages (Pss_Anon of /proc/self/smaps_rollup: each
 * page divided by its number of mappings, so a page shared with the parent
 * counts half), the pages of the memfds it holds open (their st_blocks: a
 * memfd page is memory whether it is mapped now or not, and once however
 * often it is mapped), and its page tables (VmPTE of /proc/self/status).
 * Pages of files (the program's code and libraries) are left out: no
 * allocator keeps objects there, and a forked child maps the code it runs
 * afresh, so the code it first runs after a baseline would count (64 KB of
 * a test's functions). Older kernels: Pss, or statm's resident - shared.
 * 0 if unreadable.
 */
uint64_t resident_bytes(void);

/*
 * resident_fresh_malloc - make glibc malloc behave from now on as in a
 * process that has just started, for a forked child that measures. The
 * child inherits its parent's malloc state: free space in the heap (the
 * parent's freed blocks) and mmap and trim thresholds that glibc raises
 * (up to 32 and 64 MiB) each time a larger mmapped block is freed. A large
 * calloc() served from that free space must clear it, so the whole block
 * becomes resident at once, where in a fresh process it comes from mmap
 * and costs only the pages written: a pool's tables sized by its address
 * space (a zsmalloc pool's are 3.3 MB, of which it writes a few KB) would
 * cost megabytes or nothing depending on what the parent had freed. So:
 * the thresholds go back to glibc's defaults (128 KiB) and stay there
 * (scratch blocks freed later, a checker's, go back to the OS as in a
 * fresh process), the heap's free pages go back to the OS, and its free
 * space of a page or more is taken up, allocated and never written (it
 * stays out of memory), so that what follows comes from fresh memory.
 * Must be called before the baseline. Other mallocs: nothing.
 */
void resident_fresh_malloc(void);

/* Ask the linked malloc to give its free memory back to the OS: glibc
 * malloc_trim(0), jemalloc "arena.<all>.purge", mimalloc mi_collect(true),
 * tcmalloc MallocExtension_ReleaseFreeMemory() (found with dlsym). */
void resident_give_back(void);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_TOOLS_RESIDENT_H */
