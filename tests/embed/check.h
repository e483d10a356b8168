/* CHECK(cond): the embedding tests' assertion, active in every build type (unlike assert). */
#ifndef SLUICE_TESTS_EMBED_CHECK_H
#define SLUICE_TESTS_EMBED_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

#endif
