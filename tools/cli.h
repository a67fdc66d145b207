/*
 * cli.h - what the tools' command lines share.
 *
 * Both tools parse their options with getopt_long, through cli_getopt(), so
 * that `--objects=1M`, `--objects 1M` and an unambiguous abbreviation
 * (`--obj 1M`) all work, with getopt's own messages off (opterr = 0, an
 * optstring that starts with ':'): a failure is told in one line that names
 * the option, by cli_getopt_error(), and every bad value by the tool itself,
 * naming the option and the value.
 */
#ifndef ZSALLOC_TOOLS_CLI_H
#define ZSALLOC_TOOLS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/*
 * cli_parse_count - a count: decimal digits, then at most one suffix:
 * k or K (x 1,000), M (x 1,000,000), Ki (x 1,024), Mi (x 1,048,576).
 * Returns 0 with *@v set, or -1 (empty, other characters, overflow).
 */
int cli_parse_count(const char *s, uint64_t *v);

/*
 * cli_fail - a usage error: "@prog: ", the message and a newline, then
 * @usage's text, on stderr. Returns @status.
 */
__attribute__((format(printf, 4, 5))) int cli_fail(int status, const char *prog,
						   void (*usage)(FILE *f), const char *fmt, ...);

/*
 * cli_getopt - getopt_long() as both tools call it: getopt's own messages
 * off, and a failure told by cli_getopt_error(), then @usage's text, on
 * stderr. @optstring must start with ':' (after a '-' or '+', if any), so
 * that a missing value is told apart. Returns the next option's code
 * (optarg set), -1 at the end of the options, or '?' after a failure.
 * Set optind to 0 before the first call of a scan.
 */
int cli_getopt(const char *prog, void (*usage)(FILE *f), int argc, char *const argv[],
	       const char *optstring, const struct option *longopts);

/*
 * cli_getopt_error - after getopt_long() returned '?' or ':', print
 * "@prog: ..." and a newline on stderr, naming what was wrong with the
 * element it stopped at (argv[optind - 1]): an unknown option, an ambiguous
 * abbreviation (with the options it could mean), a missing value, or a value
 * given to an option that takes none.
 */
void cli_getopt_error(const char *prog, const struct option *longopts, char *const argv[]);

#endif /* ZSALLOC_TOOLS_CLI_H */
