/*
 * Console command lines: split into words (double quotes group words and are
 * removed: args="a b" is one word `args=a b`), and key=value options.
 */
#ifndef HV_CMDLINE_H
#define HV_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

#define CMDLINE_MAX_ARGS 32

/* Splits line in place. Returns argc, -E2BIG (too many words) or -EINVAL (open quote). */
int cmdline_split(char *line, char **argv, int max);

/* If word is "key=value" with this key, returns value, else NULL. */
const char *cmdline_opt(const char *word, const char *key);

/* Decimal or 0x-hex unsigned number in [min, max]; 0 or -EINVAL/-ERANGE. */
int cmdline_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
