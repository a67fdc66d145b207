/* include_test.h - what each include_<header>.c / .cc defines: it includes
 * one public header first and alone, compiles under the strictest flags of
 * its language and standard, and returns 0 when a small use of the header's
 * declarations works. */
#ifndef ZSALLOC_TESTS_PACKAGING_INCLUDE_TEST_H
#define ZSALLOC_TESTS_PACKAGING_INCLUDE_TEST_H

int use_mapping(void);
int use_xvmalloc(void);
int use_zsmalloc(void);

#endif /* ZSALLOC_TESTS_PACKAGING_INCLUDE_TEST_H */
